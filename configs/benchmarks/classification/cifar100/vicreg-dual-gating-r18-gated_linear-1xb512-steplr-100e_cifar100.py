# Linear evaluation of the gated branch (the reference's --flag 0) of
# configs/vicreg-dual-gating_r18_cifar100.py on CIFAR-100; otherwise as the dense config.
_base_ = ['vicreg-dual-gating-r18-dense_linear-1xb512-steplr-100e_cifar100.py']
model = dict(backbone=dict(gated=True))
