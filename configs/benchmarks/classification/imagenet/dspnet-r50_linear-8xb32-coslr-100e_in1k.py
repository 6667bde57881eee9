# Linear evaluation on ImageNet of a desired network slimmed out of DSPNet-R50, with mmselfsup's
# protocol (its resnet50_linear-8xb32-coslr-100e_in1k: backbone frozen including its BN
# statistics, SGD lr 0.3 + cosine, 100 epochs, 8 GPUs x 32 images).
#   bash tools/benchmarks/transfer/mmcls_train.sh \
#       configs/benchmarks/classification/imagenet/dspnet-r50_linear-8xb32-coslr-100e_in1k.py \
#       work_dirs/slim/r50_w05.pth 8
# The linear head's in_channels follow the selected network (WithSubnetChannels). The bases are
# mmcls's own: mmselfsup's benchmark files would tag the dataset with _scope_='mmselfsup',
# where mmcls's ImageNet and PackClsInputs are not registered.
_base_ = [
    'mmcls::_base_/models/resnet50.py',
    'mmcls::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmcls::_base_/default_runtime.py',
    '../../_base_/dspnet_r50.py',
]

model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmcls.ImageClassifier',
    from_backbone={'head.in_channels': 3},
    backbone={**_base_.dspnet_r50_backbone, 'out_indices': (3, ),
              'frozen_stages': 4,  # the stem and all four stages
              'norm_cfg': dict(type='BN')})

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.3, momentum=0.9, weight_decay=1e-6))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=100, by_epoch=True, begin=0, end=100)]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
