# configs/dspnet_r18_fmnist.py with twice the updates: 3200 iterations of 64 images (3.4 epochs),
# about 31 minutes on 2 cores. The wide DNs need this schedule to move well clear of their
# random-weight k-NN (README, Results):
#   python tools/train.py configs/dspnet_r18_fmnist_long.py
#   python tools/eval_subnets.py work_dirs/dspnet_r18_fmnist_long/iter_3200.pth \
#       --config configs/dspnet_r18_fmnist_long.py --random-init
_base_ = ['dspnet_r18_fmnist.py']

max_iters = 3200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', T_max=max_iters - 100, by_epoch=False, begin=100,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters)
default_hooks = dict(checkpoint=dict(interval=800))
