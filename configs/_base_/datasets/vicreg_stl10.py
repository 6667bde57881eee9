# STL-10 train + unlabeled images (105k, 96x96), read from the binary release:
# stl10_binary.tar.gz unpacked into data/stl10/ (data/stl10/stl10_binary/*_X.bin, *_y.bin).
_base_ = ['vicreg_cifar10.py']
view_pipeline1 = [
    dict(type='RandomResizedCrop', size=96, scale=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=[
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='RandomGaussianBlur', sigma_min=0.1, sigma_max=2.0, prob=1.0),
]
view_pipeline2 = view_pipeline1[:-1] + [
    dict(type='RandomGaussianBlur', sigma_min=0.1, sigma_max=2.0, prob=0.1),
    dict(type='RandomSolarize', prob=0.2),
]
train_dataloader = dict(dataset=dict(
    _delete_=True, type='STL10', data_root='data/stl10/', split='train+unlabeled',
    pipeline=[dict(type='MultiView', num_views=[1, 1],
                   transforms=[view_pipeline1, view_pipeline2]),
              dict(type='PackSelfSupInputs', meta_keys=[])]))
# STL10 yields BGR images, as LoadImageFromFile would
data_preprocessor = dict(mean=(113.9, 112.2, 103.7), std=(66.4, 65.4, 68.4),
                         bgr_to_rgb=True)
