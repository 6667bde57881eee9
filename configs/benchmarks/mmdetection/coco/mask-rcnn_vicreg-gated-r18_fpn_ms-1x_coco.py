# Mask R-CNN R18-FPN, 1x, multi-scale, with the GATED network of a VICReg-Dual-Gating checkpoint
# (gated inference: every block computes the channels its gate selects for the image).
#   bash tools/benchmarks/transfer/mmdet_train.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_vicreg-gated-r18_fpn_ms-1x_coco.py \
#       work_dirs/export/vdg_r18_gated.pth 8
# The gates keep training downstream (no sparsity loss): the FLOPs of the detector's backbone
# are measured, not imposed. The dense network: mask-rcnn_vicreg-dense-r18-stock_fpn_*.py.
_base_ = ['mask-rcnn_dspnet-r50_fpn_ms-1x_coco.py', '../../_base_/vicreg_gating_r18.py']

model = dict(backbone=dict(_delete_=True, **_base_.gated_backbone))
