# VICReg-Dual-Gating (BMVC 2023), ResNet-18, paper scale: dense + gated branches. Dual BN as the
# reference's --separate_bn: only each block's bn1/bn2 has a gated copy; the stem BN, the
# shortcut BNs and the gates' BN are shared by both branches.
_base_ = ['vicreg-gating_r18.py']
model = dict(type='VICRegDualGating', symmetric=False,
             backbone=dict(dual_bn=True, dual_bn_shortcut=False))
