# ImageNet-100 (the 100-class subset of CMC), 224x224 views, from data/imagenet100/ with an
# annotation file meta/train.txt ("relative/path.JPEG label" per line). The reference's views
# (bash_files/pretrain/imagenet100/vicreg_gating.sh through ImagenetTransform), the same for both
# views: crop 224 (scale 0.2-1, bicubic), jitter, grey, no blur, solarization 0.1, flip;
# normalised with solo-learn's ImageNet statistics (std 0.228, 0.224, 0.225).
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)


def solo_view(size):
    """One view as solo-learn builds it, in its order (RRC, jitter, grey, solarize, flip)."""
    return [
        dict(type='RandomResizedCrop', size=size, scale=(0.2, 1.0), interpolation='bicubic',
             backend='pillow'),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='RandomSolarize', threshold=128, prob=0.1),
        dict(type='RandomFlip', prob=0.5),
    ]


view_pipeline1 = solo_view(224)
view_pipeline2 = solo_view(224)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackSelfSupInputs', meta_keys=['img_path']),
]
train_dataloader = dict(
    batch_size=256, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='mmcls.CustomDataset', data_root='data/imagenet100/',
                 ann_file='meta/train.txt', data_prefix=dict(img_path='train/'),
                 pipeline=train_pipeline))
data_preprocessor = dict(type='SelfSupDataPreprocessor', mean=(123.675, 116.28, 103.53),
                         std=(58.14, 57.12, 57.375), bgr_to_rgb=True)
