# Mask R-CNN R18-FPN, 1x, multi-scale, with the DENSE network of a VICReg-Dual-Gating checkpoint
# (gates off): `tools/slim.py --branch dense` writes a plain ResNet-18, which mmdet's own
# `ResNet` reads with every key matched; no plugin.
#   bash tools/benchmarks/transfer/mmdet_train.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_vicreg-dense-r18-stock_fpn_ms-1x_coco.py \
#       work_dirs/export/vdg_r18_dense.pth 8
_base_ = 'mask-rcnn_r50-stock_fpn_ms-1x_coco.py'

model = dict(
    backbone=dict(depth=18,
                  init_cfg=dict(type='Pretrained',
                                checkpoint='work_dirs/export/vdg_r18_dense.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
