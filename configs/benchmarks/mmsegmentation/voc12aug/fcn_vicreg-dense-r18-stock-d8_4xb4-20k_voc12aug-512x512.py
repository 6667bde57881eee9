# FCN-D8 on VOC12 aug with the DENSE network of a VICReg-Dual-Gating checkpoint (gates off), a
# plain ResNet-18 read by mmseg's own `ResNet`; no plugin.
#   bash tools/benchmarks/transfer/mmseg_train.sh \
#       configs/benchmarks/mmsegmentation/voc12aug/fcn_vicreg-dense-r18-stock-d8_4xb4-20k_voc12aug-512x512.py \
#       work_dirs/export/vdg_r18_dense.pth 4
_base_ = 'fcn_r50-stock-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    backbone=dict(depth=18,
                  init_cfg=dict(type='Pretrained',
                                checkpoint='work_dirs/export/vdg_r18_dense.pth')),
    decode_head=dict(in_channels=512),
    auxiliary_head=dict(in_channels=256))
