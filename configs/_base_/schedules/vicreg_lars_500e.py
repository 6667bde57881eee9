# The reference's optimisation (KrishnaTarun/Unification bash_files/pretrain/*/vicreg_gating.sh
# read through solo/methods/base_gating.py configure_optimizers/learnable_params and
# solo/args/utils.py): SGD momentum 0.9 under solo-learn's LARSWrapper (--lars --grad_clip_lars
# --eta_lars 0.02 --exclude_bias_n_norm: 1-D tensors neither adapted nor decayed), lr 0.3 per
# 256 images x 256 x 2 GPUs = 0.6, weight decay 1e-4 except the gates (0, 'mask' params),
# pl_bolts' warm-up cosine stepped once per epoch: 0.003 -> 0.6 over epochs 0-9, cosine from
# 0.6 at epoch 10 to 0 at 500. The reference trains in fp16: add --amp to tools/train.py.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SoloLARS', lr=0.6, momentum=0.9, weight_decay=1e-4, eta=0.02,
                   clip=True, exclude_1d=True),
    paramwise_cfg=dict(custom_keys={'.gate.': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearWarmupCosineLR', warmup=10, total=500, warmup_start_lr=0.003,
         eta_min=0., by_epoch=True, begin=0, end=500),
]
# an epoch loop that resumes mid-epoch at the exact sample (dspnet_mm/engine/runner/loops.py)
train_cfg = dict(type='ReproducibleEpochBasedTrainLoop', max_epochs=500)
auto_scale_lr = dict(base_batch_size=512)
