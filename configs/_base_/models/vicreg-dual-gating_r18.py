# VICReg-Dual-Gating (BMVC 2023), ResNet-18, paper scale: dense + gated branches, dual BN.
_base_ = ['vicreg-gating_r18.py']
model = dict(type='VICRegDualGating', symmetric=False, backbone=dict(dual_bn=True))
