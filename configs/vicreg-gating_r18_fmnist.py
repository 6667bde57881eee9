# VICReg-Gating ("Baseline-2"): one channel-gated stream trained to a FLOPs budget, on
# Fashion-MNIST on a CPU:
#   python tools/train.py configs/vicreg-gating_r18_fmnist.py \
#       [--cfg-options model.sparsity_loss.t_d=0.5]
_base_ = ['vicreg_r18_fmnist.py']
# Of the reference recipe, what applies on one CPU: FLOPs counted as the reference counts them
# (budget loss, "FLOPs R."), VICReg variance v(a) + v(b), no decay on the gates; dual BN only on
# the blocks' bn1/bn2. The stem, optimiser, schedule and views stay CPU-sized (see docs/gating.md).

t_d = 0.3  # FLOPs budget: fraction of the dense network's FLOPs kept by the gated pass
model = dict(
    type='VICRegGating',
    backbone=dict(_delete_=True, type='GatedResNet', depth=18, in_channels=1,
                  stem_channels=32, base_channels=32, small_input=True, strides=(2, 2, 2, 2),
                  out_indices=(3, ), dual_bn=False, norm_cfg=dict(type='BN'),
                  flops_convention='reference'),
    sparsity_loss=dict(type='SparsityLoss', t_d=t_d, lambda_flops=5., gamma_bound=1.),
)
# the short CPU schedule: the gates learn 10x faster than the rest, so the gated branch
# reaches its budget within a few hundred iterations; no weight decay on them (the reference's
# 'mask' parameter group)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'.gate.': dict(lr_mult=10.,
                                                                   decay_mult=0.)}))
# p = exp(-0.02 * epoch) once per "epoch"; here an annealing epoch is 4 iterations, so the
# 400-iteration run anneals p from 1 to 0.14 like a 100-epoch run.
custom_hooks = [dict(type='GateAnnealingHook', alpha=0.02, iters_per_epoch=4),
                dict(type='NonFiniteLossHook')]
