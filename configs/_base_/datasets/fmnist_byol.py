# Fashion-MNIST (real images, 28x28 grey) with BYOL-style asymmetric views, sized for a CPU.
# (mmcv's ColorJitter needs 3-channel images: grey views use RandomGreyJitter instead.)
# Prepare the data once: python tools/prepare_fashion_mnist.py  (-> data/fashion_mnist/)
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)
dataset_type = 'LocalFashionMNIST'
data_root = 'data/fashion_mnist/'

view_pipeline1 = [
    dict(type='RandomResizedCrop', size=28, scale=(0.3, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomGreyJitter', brightness=0.4, contrast=0.4, prob=0.8),
    dict(type='RandomGaussianBlur', sigma_min=0.1, sigma_max=1.0, prob=0.5),
]
view_pipeline2 = [
    dict(type='RandomResizedCrop', size=28, scale=(0.3, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomGreyJitter', brightness=0.4, contrast=0.4, prob=0.8),
    dict(type='RandomGaussianBlur', sigma_min=0.1, sigma_max=1.0, prob=0.1),
    dict(type='RandomSolarize', prob=0.2),
]
train_pipeline = [
    dict(type='MultiView', num_views=[1, 1], transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackSelfSupInputs', meta_keys=[]),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_prefix=data_root, test_mode=False,
                 pipeline=train_pipeline))
