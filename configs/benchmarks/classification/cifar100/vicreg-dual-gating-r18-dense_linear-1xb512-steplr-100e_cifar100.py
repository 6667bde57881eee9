# Linear evaluation of the dense branch (the reference's --flag 1) of
# configs/vicreg-dual-gating_r18_cifar100.py on CIFAR-100, the reference's protocol
# (configs/benchmarks/_base_/vicreg_linear_r18.py); views and statistics as CIFAR-10 (the
# reference's classification_dataloader uses the CIFAR-10 statistics for both).
_base_ = ['../cifar10/vicreg-dual-gating-r18-dense_linear-1xb512-steplr-100e_cifar10.py']
pretrained = 'work_dirs/vicreg-dual-gating_r18_cifar100/epoch_500.pth'
model = dict(data_preprocessor=dict(num_classes=100),
             backbone=dict(init_cfg=dict(checkpoint=pretrained)), head=dict(num_classes=100))
train_dataloader = dict(dataset=dict(type='dspnet_mm.LocalCIFAR100',
                                     data_prefix='data/cifar100/'))
val_dataloader = dict(dataset=dict(type='dspnet_mm.LocalCIFAR100', data_prefix='data/cifar100/'))
test_dataloader = val_dataloader
