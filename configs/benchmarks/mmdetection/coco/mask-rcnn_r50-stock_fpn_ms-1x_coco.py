# The stock-ResNet route: no plugin at all. A full-depth, uniform-width desired network slimmed
# out of DSPNet-R50 is a plain ResNet-50 (stem and base width scaled), which mmdet's own
# `ResNet` reads with every key matched. This config is for r50_w1 (standard widths):
#   python tools/slim.py work_dirs/dspnet_r50/epoch_300.pth --subnet r50_w1 \
#       --out work_dirs/slim/r50_w1.pth
#   bash tools/benchmarks/transfer/mmdet_train.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_r50-stock_fpn_ms-1x_coco.py \
#       work_dirs/slim/r50_w1.pth 8
# For another uniform width, tools/slim.py prints `stock_resnet` (e.g. r50_w05: stem_channels=32,
# base_channels=32); the FPN then needs in_channels=[4 * base * 2**i for i in range(4)].
# The plugin configs (mask-rcnn_dspnet-r50_*) derive those counts for any network.
_base_ = 'mmselfsup::benchmarks/mmdetection/coco/mask-rcnn_r50_fpn_ms-1x_coco.py'

model = dict(
    backbone=dict(
        depth=50,
        stem_channels=64,
        base_channels=64,
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/slim/r50_w1.pth')),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
