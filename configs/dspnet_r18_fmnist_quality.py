# DSPNet on Fashion-MNIST, the quality recipe (README, Results): the demo config
# (configs/dspnet_r18_fmnist.py: same family, method, views, optimizer, bf16 on a CPU that has
# it) with the longest schedule that fits the ~78-minute budget of one run on 2 CPU cores:
# 9600 iterations x 64 images (10.2 epochs). bf16 made an iteration 1.38x faster end to end,
# data loading included (tools/benchmarks/fmnist_iter_time.py,
# docs/results/fmnist_iter_time.json), so the 6800 iterations of the fp32 recipe
# (configs/dspnet_r18_fmnist_quality_fp32.py) became 9600.
#   python tools/train.py configs/dspnet_r18_fmnist_quality.py
_base_ = ['dspnet_r18_fmnist.py']

max_iters = 9600
warmup = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=warmup),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup, by_epoch=False, begin=warmup,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(checkpoint=dict(interval=400))
