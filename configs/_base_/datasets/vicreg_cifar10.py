# CIFAR-10 train split (50k, 32x32) with VICReg's asymmetric views (no blur at this size).
# Data: cifar-10-python.tar.gz unpacked into data/cifar10/ (data/cifar10/cifar-10-batches-py/);
# LocalCIFAR10 never downloads and yields BGR images like an image file would.
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)
dataset_type = 'LocalCIFAR10'
data_root = 'data/cifar10/'
color = [
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
]
view_pipeline1 = [
    dict(type='RandomResizedCrop', size=32, scale=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5), *color,
]
view_pipeline2 = [
    dict(type='RandomResizedCrop', size=32, scale=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5), *color,
    dict(type='RandomSolarize', prob=0.2),
]
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
