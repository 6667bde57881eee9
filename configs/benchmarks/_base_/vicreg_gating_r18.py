# What the transfer configs of a dynamic-gating checkpoint share: the networks exported from
# configs/vicreg-dual-gating_r18_in100.py (ResNet-18, dual BN):
#   python tools/slim.py work_dirs/vicreg-dual-gating_r18_in100/epoch_500.pth --branch dense \
#       --out work_dirs/export/vdg_r18_dense.pth
#   python tools/slim.py work_dirs/vicreg-dual-gating_r18_in100/epoch_500.pth --branch gated \
#       --out work_dirs/export/vdg_r18_gated.pth
# Gates off downstream is the dense network, a plain ResNet-18 (the *-stock configs, no plugin);
# gated inference keeps the gates and the gated branch's BNs (the *_vicreg-gated-r18 configs).
dense_checkpoint = 'work_dirs/export/vdg_r18_dense.pth'
gated_checkpoint = 'work_dirs/export/vdg_r18_gated.pth'
# the pretraining config's layout (the reference's): dual BN on the blocks' bn1/bn2 only
gated_backbone = dict(type='dspnet_mm.GatedResNet', depth=18, dual_bn=True, gated=True,
                      dual_bn_shortcut=False, gate_norm_cfg=dict(type='SyncBN'),
                      flops_convention='reference',
                      out_indices=(0, 1, 2, 3), norm_cfg=dict(type='SyncBN', requires_grad=True),
                      norm_eval=False, style='pytorch',
                      init_cfg=dict(type='Pretrained', checkpoint=gated_checkpoint))
