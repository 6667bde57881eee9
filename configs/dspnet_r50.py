# DSPNet, paper scale: ResNet-50 supernet on ImageNet, 8 GPUs x 256 images, LARS, cosine.
#   bash tools/dist_train.sh configs/dspnet_r50.py 8
# Data as mmselfsup expects it: data/imagenet/{train/, meta/train.txt} (mmcls.ImageNet).
_base_ = [
    'mmselfsup::selfsup/byol/byol_resnet50_16xb256-coslr-200e_in1k.py',
    '_base_/models/dspnet_r50_subnets.py',
]
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='DSPNet',
    base_momentum=0.99,
    num_random=2,
    data_preprocessor=dict(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
                           bgr_to_rgb=True),
    backbone=dict(
        type='SlimmableResNet', depth=50, in_channels=3, out_indices=(3, ),
        norm_cfg=dict(type='SyncBN'),
        # the desired networks (one table for pretraining and transfer). A child config
        # replaces it with model = dict(backbone=dict(subnets=dict(_delete_=True,
        # name=dict(widths=..., depths=...), ...))) (README)
        subnets=_base_.dspnet_r50_subnets),
    neck=dict(type='SlimmableNonLinearNeck', in_channels=2048, hid_channels=4096,
              out_channels=256, num_layers=2, with_bias=True, with_last_bn=False,
              with_avg_pool=True),
    head=dict(type='LatentPredictHead',
              predictor=dict(type='NonLinearNeck', in_channels=256, hid_channels=4096,
                             out_channels=256, num_layers=2, with_bias=True,
                             with_last_bn=False, with_avg_pool=False),
              loss=dict(type='CosineSimilarityLoss')),
)
# atomic checkpoint writes, epoch_N.pth every 10 epochs and iter_N.pth every 1000 iterations
# inside an epoch (about 20 minutes of one GPU at 256 images per iteration, bf16: a preempted
# run loses less than that); an epoch loop that resumes mid-epoch at the exact sample
default_hooks = dict(checkpoint=dict(type='MidEpochCheckpointHook', iter_interval=1000,
                                     max_keep_iter_ckpts=2,
                                     backend_args=dict(backend='atomic_local')))
train_cfg = dict(type='ReproducibleEpochBasedTrainLoop')
custom_hooks = [dict(type='NonFiniteLossHook')]
# 8 GPUs x 256 = 2048 images per iteration; LARS lr scaled from BYOL's 4.8 @ 4096
train_dataloader = dict(batch_size=256)
# (the top-level `optimizer` is the base's variable: kept equal to what is used, so nothing
# stale with BYOL's lr 4.8 is left in the merged config)
optimizer = dict(type='LARS', lr=2.4, momentum=0.9, weight_decay=1e-6)
optim_wrapper = dict(optimizer=optimizer)
# lr 2.4 is for 2048 images per iteration: `tools/train.py --auto-scale-lr` scales it linearly
# to the batch actually used (e.g. 0.075 for one GPU x 64)
auto_scale_lr = dict(base_batch_size=2048)
# each iteration trains a few of the sub-networks: the heads and private BNs of the others
# receive no gradient in that iteration
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=True)
