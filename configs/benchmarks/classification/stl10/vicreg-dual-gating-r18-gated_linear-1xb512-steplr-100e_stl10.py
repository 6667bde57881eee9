# Linear evaluation of the gated branch (the reference's --flag 0) of
# configs/vicreg-dual-gating_r18_stl10.py on STL-10; otherwise as the dense config.
_base_ = ['vicreg-dual-gating-r18-dense_linear-1xb512-steplr-100e_stl10.py']
model = dict(backbone=dict(gated=True))
