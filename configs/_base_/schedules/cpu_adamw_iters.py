# A short iteration-based schedule for CPU runs: AdamW, linear warm-up, cosine decay. On
# Fashion-MNIST this short, BYOL-style learning is limited by the number of updates more than
# by the batch size, hence many steps of 64 images (see the README's Results).
max_iters = 1600
# bf16 autocast where the CPU has bf16 instructions (fp32 where it has not, said in the log);
# fp32 on any CPU: --cfg-options optim_wrapper.dtype=float32. The model in channels-last
# format: bf16 steps 1.25-1.3x faster than without (docs/performance.md), resume still exact
optim_wrapper = dict(type='CPUAmpOptimWrapper', dtype='bfloat16', channels_last=True,
                     on_unsupported='fp32',
                     optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-6),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_iters - 100, by_epoch=False, begin=100,
         end=max_iters),
]
# randomness of iteration i depends on (seed, i) only: a resumed run repeats the iterations
# of an uninterrupted one exactly
train_cfg = dict(type='ReproducibleIterBasedTrainLoop', max_iters=max_iters)
