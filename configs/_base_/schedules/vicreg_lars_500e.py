# LARS, batch 256 per GPU x 2 GPUs (lr 0.3 per 256 images), 500 epochs: 10 warm-up epochs,
# then cosine. BN, bias and the gates' BN are excluded from weight decay and LARS adaptation.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=0.6, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={
        'bn': dict(decay_mult=0, lars_exclude=True),
        'bias': dict(decay_mult=0, lars_exclude=True),
        'downsample.1': dict(decay_mult=0, lars_exclude=True),
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=490, eta_min=6e-4, by_epoch=True, begin=10, end=500,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=500)
auto_scale_lr = dict(base_batch_size=512)
