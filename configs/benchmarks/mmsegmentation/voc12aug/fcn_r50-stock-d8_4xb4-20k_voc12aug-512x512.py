# The stock-ResNet route for segmentation: mmseg's own `ResNet` (plain 7x7 stem, as pretrained;
# not the ResNetV1c deep stem) reads a full-depth, uniform-width desired network slimmed out of
# DSPNet-R50 with every key matched; no plugin. For r50_w1 (standard widths):
#   python tools/slim.py work_dirs/dspnet_r50/epoch_300.pth --subnet r50_w1 \
#       --out work_dirs/slim/r50_w1.pth
#   bash tools/benchmarks/transfer/mmseg_train.sh \
#       configs/benchmarks/mmsegmentation/voc12aug/fcn_r50-stock-d8_4xb4-20k_voc12aug-512x512.py \
#       work_dirs/slim/r50_w1.pth 4
# Other uniform widths: tools/slim.py prints `stock_resnet` (stem_channels, base_channels); the
# heads then need in_channels 4 * 8 * base (decode) and 4 * 4 * base (auxiliary).
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    pretrained=None,  # mmseg's open-mmlab://resnet50_v1c; init_cfg loads the slimmed network
    backbone=dict(type='ResNet', depth=50, stem_channels=64, base_channels=64,
                  init_cfg=dict(type='Pretrained', checkpoint='work_dirs/slim/r50_w1.pth')))
