# FCN-D8 on VOC12 aug with the GATED network of a VICReg-Dual-Gating checkpoint (gated
# inference), dilated stages 3-4 as in the DSPNet FCN config it inherits; head channels derived.
#   bash tools/benchmarks/transfer/mmseg_train.sh \
#       configs/benchmarks/mmsegmentation/voc12aug/fcn_vicreg-gated-r18-d8_4xb4-20k_voc12aug-512x512.py \
#       work_dirs/export/vdg_r18_gated.pth 4
_base_ = ['fcn_dspnet-r50-d8_4xb4-20k_voc12aug-512x512.py', '../../_base_/vicreg_gating_r18.py']

model = dict(backbone=dict(_delete_=True, **_base_.gated_backbone, strides=(1, 2, 1, 1),
                           dilations=(1, 1, 2, 4)))
