# FCN-D8 on Cityscapes (769x769 crops, sliding-window test), with a desired network slimmed out
# of DSPNet-R50 (mmselfsup's segmentation protocol).
#   bash tools/benchmarks/transfer/mmseg_train.sh \
#       configs/benchmarks/mmsegmentation/cityscapes/fcn_dspnet-r50-d8_4xb2-40k_cityscapes-769x769.py \
#       work_dirs/slim/r50_w05.pth 4
_base_ = [
    'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-769x769.py',
    '../../_base_/dspnet_r50.py',
]

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmseg.EncoderDecoder',
    from_backbone={'decode_head.in_channels': 3, 'auxiliary_head.in_channels': 2},
    pretrained=None,
    backbone=dict(**_base_.dspnet_r50_backbone, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)))
