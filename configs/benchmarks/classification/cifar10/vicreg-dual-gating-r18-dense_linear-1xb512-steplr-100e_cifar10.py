# Linear evaluation of the dense branch (the reference's --flag 1) of
# configs/vicreg-dual-gating_r18_cifar10.py on CIFAR-10, the reference's protocol
# (configs/benchmarks/_base_/vicreg_linear_r18.py):
#   bash tools/benchmarks/transfer/mmcls_train.sh \
#       configs/benchmarks/classification/cifar10/vicreg-dual-gating-r18-dense_linear-1xb512-steplr-100e_cifar10.py \
#       work_dirs/vicreg-dual-gating_r18_cifar10/epoch_500.pth 1
# Views as solo/utils/classification_dataloader.py: train = random resized crop 32 (scale
# 0.08-1) + flip, test = the image; CIFAR-10 statistics (used for CIFAR-100 too).
_base_ = ['../../_base_/vicreg_linear_r18.py']
pretrained = 'work_dirs/vicreg-dual-gating_r18_cifar10/epoch_500.pth'
model = dict(
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10,
                           mean=(125.3, 123.0, 113.9), std=(63.0, 62.0, 66.6), to_rgb=True),
    backbone=dict(small_input=True, stem_padding=2, init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=10))
dataset_type = 'dspnet_mm.LocalCIFAR10'
data_root = 'data/cifar10/'
train_pipeline = [
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.08, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='PackClsInputs')]
train_dataloader = dict(dataset=dict(type=dataset_type, data_prefix=data_root, test_mode=False,
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_prefix=data_root, test_mode=True,
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
