# VICReg (dense baseline, "Baseline-1") on Fashion-MNIST on a CPU:
#   python tools/train.py configs/vicreg_r18_fmnist.py
_base_ = [
    'mmselfsup::selfsup/_base_/default_runtime.py',
    '_base_/datasets/fmnist_byol.py',
    '_base_/models/vicreg_r18_fmnist.py',
    '_base_/schedules/cpu_adamw_iters.py',
]

# 400 iterations of batch 64 (0.4 epoch of Fashion-MNIST): about 13 minutes on 2 busy cores
train_dataloader = dict(batch_size=64)
max_iters = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', T_max=max_iters - 40, by_epoch=False, begin=40,
         end=max_iters),
]
train_cfg = dict(type='ReproducibleIterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=200, by_epoch=False, max_keep_ckpts=2,
                    backend_args=dict(backend='atomic_local')))
custom_hooks = [dict(type='NonFiniteLossHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
