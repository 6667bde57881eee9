# The earlier quality recipe, kept so its results (docs/results/fmnist_dspnet_quality_fp32.md)
# stay reproducible: 6800 iterations x 64 images (7.3 epochs) in fp32, the longest schedule that
# fitted a ~75-minute part on 2 CPU cores before bf16 training.
# tools/benchmarks/fmnist_recipe_sweep.py measured the alternatives at ~8 minutes (stages at
# stride 2, batches of 128/256): none learnt faster per second than this one.
#   python tools/train.py configs/dspnet_r18_fmnist_quality_fp32.py
_base_ = ['dspnet_r18_fmnist_quality.py']

max_iters = 6800
warmup = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=warmup),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup, by_epoch=False, begin=warmup,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters)
optim_wrapper = dict(dtype='float32')
