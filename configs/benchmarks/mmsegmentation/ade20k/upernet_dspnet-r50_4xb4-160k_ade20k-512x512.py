# UPerNet (pyramid pooling + FPN fusion of all four stages) on ADE20K, with a desired network
# slimmed out of DSPNet-R50.
#   bash tools/benchmarks/transfer/mmseg_train.sh \
#       configs/benchmarks/mmsegmentation/ade20k/upernet_dspnet-r50_4xb4-160k_ade20k-512x512.py \
#       work_dirs/slim/r50_w05.pth 4
# The decode head reads every stage, so its in_channels is the list of the network's widths.
_base_ = [
    'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
    '../../_base_/dspnet_r50.py',
]

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmseg.EncoderDecoder',
    from_backbone={'decode_head.in_channels': [0, 1, 2, 3], 'auxiliary_head.in_channels': 2},
    pretrained=None,
    backbone=dict(**_base_.dspnet_r50_backbone, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1)))
