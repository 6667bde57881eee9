# VICReg-Dual-Gating (the BMVC 2023 method): view 1 through the gated branch, view 2 through
# the dense branch (shared convs, gates, stem, projector; dual BN), VICReg + sparsity loss to
# a FLOPs budget, on Fashion-MNIST on a CPU:
#   python tools/train.py configs/vicreg-dual-gating_r18_fmnist.py \
#       [--cfg-options model.sparsity_loss.t_d=0.5]
#   python tools/analyze_gating.py WORK_DIR/iter_400.pth \
#       --config configs/vicreg-dual-gating_r18_fmnist.py --knn
_base_ = ['vicreg-gating_r18_fmnist.py']

t_d = 0.3  # FLOPs budget: fraction of the dense network's FLOPs kept by the gated branch
model = dict(
    type='VICRegDualGating',
    symmetric=False,
    backbone=dict(dual_bn=True, dual_bn_shortcut=False),  # the reference's --separate_bn
    sparsity_loss=dict(t_d=t_d),
)
