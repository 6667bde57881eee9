# Fine-tuning on ImageNet of a desired network slimmed out of DSPNet-R50, with mmselfsup's
# protocol (its resnet50_8xb32-steplr-90e_in1k: the whole network trained with SyncBN, SGD lr 0.1
# with steps at epochs 30/60, 90 epochs, 8 GPUs x 32 images).
#   bash tools/benchmarks/transfer/mmcls_train.sh \
#       configs/benchmarks/classification/imagenet/dspnet-r50_8xb32-steplr-90e_in1k.py \
#       work_dirs/slim/r50_w05.pth 8
_base_ = [
    'mmcls::_base_/models/resnet50.py',
    'mmcls::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmcls::_base_/schedules/imagenet_bs256.py',
    'mmcls::_base_/default_runtime.py',
    '../../_base_/dspnet_r50.py',
]

model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmcls.ImageClassifier',
    from_backbone={'head.in_channels': 3},
    backbone={**_base_.dspnet_r50_backbone, 'out_indices': (3, ), 'frozen_stages': -1,
              'norm_cfg': dict(type='SyncBN')})

train_cfg = dict(max_epochs=90)
