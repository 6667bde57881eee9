# VICReg-Gating ("Baseline-2"): one gated stream, ResNet-18, paper scale. Set ``t_d`` (the
# fraction of FLOPs kept) in the top-level config: model.sparsity_loss.t_d. As the reference
# (solo/methods/ResCg/resnet_gating.py, mask.py): SyncBN everywhere including the gates' BN
# (--sync_batchnorm), FLOPs counted as its counter does (conv multiply-accumulates, gates'
# 1x1 convs on the gated side) for the budget loss and for "FLOPs R.".
_base_ = ['vicreg_r18.py']
model = dict(
    type='VICRegGating',
    backbone=dict(_delete_=True, type='GatedResNet', depth=18, in_channels=3,
                  out_indices=(3, ), dual_bn=False, norm_cfg=dict(type='SyncBN'),
                  gate_norm_cfg=dict(type='SyncBN'), flops_convention='reference'),
    sparsity_loss=dict(type='SparsityLoss', t_d=0.5, lambda_flops=5., gamma_bound=1.),
)
# p = exp(-0.02 * epoch), once per (dataset) epoch; stop on a NaN/Inf loss
custom_hooks = [dict(type='GateAnnealingHook', alpha=0.02), dict(type='NonFiniteLossHook')]
