# FCN, output stride 8 (stages 3-4 dilated 2 and 4 instead of strided), on Pascal VOC 2012 aug,
# with a desired network slimmed out of DSPNet-R50 (mmselfsup's segmentation protocol).
#   bash tools/benchmarks/transfer/mmseg_train.sh \
#       configs/benchmarks/mmsegmentation/voc12aug/fcn_dspnet-r50-d8_4xb4-20k_voc12aug-512x512.py \
#       work_dirs/slim/r50_w05.pth 4
# The backbone keeps the plain 7x7 stem it was pretrained with, not mmseg's ResNetV1c deep stem
# (see docs/transfer.md); the head channels follow the selected network (WithSubnetChannels).
_base_ = [
    'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py',
    '../../_base_/dspnet_r50.py',
]

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmseg.EncoderDecoder',
    from_backbone={'decode_head.in_channels': 3, 'auxiliary_head.in_channels': 2},
    pretrained=None,  # mmseg's open-mmlab://resnet50_v1c; the backbone's init_cfg loads ours
    backbone=dict(**_base_.dspnet_r50_backbone, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)))
