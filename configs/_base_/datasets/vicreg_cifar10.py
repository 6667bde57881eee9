# CIFAR-10 train split (50k, 32x32) with the reference's views (KrishnaTarun/Unification
# bash_files/pretrain/cifar10/vicreg_gating.sh through solo/utils/pretrain_dataloader.py
# CifarTransform), the same for both views: random resized crop 32 (scale 0.2-1, bicubic),
# colour jitter 0.4/0.4/0.2/0.1 (p 0.8), greyscale (p 0.2), no blur (--gaussian_prob 0.0 0.0),
# solarization (p 0.1), horizontal flip, CIFAR-10 mean/std.
# Data: cifar-10-python.tar.gz unpacked into data/cifar10/ (data/cifar10/cifar-10-batches-py/);
# LocalCIFAR10 never downloads and yields BGR images like an image file would.
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)
dataset_type = 'LocalCIFAR10'
data_root = 'data/cifar10/'


def solo_view(size, blur_prob=0.):
    """One view as solo-learn builds it, in its order (RRC, jitter, grey, blur, solarize, flip)."""
    view = [
        dict(type='RandomResizedCrop', size=size, scale=(0.2, 1.0), interpolation='bicubic',
             backend='pillow'),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
    ]
    if blur_prob:
        view.append(dict(type='RandomGaussianBlur', sigma_min=0.1, sigma_max=2.0,
                         prob=blur_prob))
    return view + [dict(type='RandomSolarize', threshold=128, prob=0.1),
                   dict(type='RandomFlip', prob=0.5)]


view_pipeline1 = solo_view(32)
view_pipeline2 = solo_view(32)
train_pipeline = [
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackSelfSupInputs', meta_keys=[]),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_prefix=data_root, test_mode=False,
                 pipeline=train_pipeline))
# BGR -> RGB, then the CIFAR-10 statistics (RGB order); top-level configs put this in their
# model: ``data_preprocessor={{_base_.data_preprocessor}}``
data_preprocessor = dict(type='SelfSupDataPreprocessor', mean=(125.3, 123.0, 113.9),
                         std=(63.0, 62.1, 66.7), bgr_to_rgb=True)
