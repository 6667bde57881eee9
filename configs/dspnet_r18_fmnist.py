# DSPNet pretraining on Fashion-MNIST on a CPU (about 15 minutes on 2 cores):
#   python tools/train.py configs/dspnet_r18_fmnist.py
_base_ = [
    'mmselfsup::selfsup/_base_/default_runtime.py',
    '_base_/datasets/fmnist_byol.py',
    '_base_/models/dspnet_r18_fmnist.py',
    '_base_/schedules/cpu_adamw_iters.py',
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=400, by_epoch=False, max_keep_ckpts=2,
                    backend_args=dict(backend='atomic_local')))
custom_hooks = [dict(type='NonFiniteLossHook')]
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# each iteration trains a few of the sub-networks: the heads and private BNs of the others
# receive no gradient in that iteration
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
