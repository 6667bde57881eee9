# Linear evaluation of the gated branch (the reference's --flag 0: gates on, deterministic) of
# configs/vicreg-dual-gating_r18_cifar10.py on CIFAR-10; otherwise as the dense config.
_base_ = ['vicreg-dual-gating-r18-dense_linear-1xb512-steplr-100e_cifar10.py']
model = dict(backbone=dict(gated=True))
