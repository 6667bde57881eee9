# STL-10 train + unlabeled images (105k, 96x96), read from the binary release:
# stl10_binary.tar.gz unpacked into data/stl10/ (data/stl10/stl10_binary/*_X.bin, *_y.bin).
# The reference's views (bash_files/pretrain/stl10/vicreg_gating.sh through STLTransform), the
# same for both views: crop 96 (scale 0.2-1, bicubic), jitter, grey, no blur, solarization 0.1,
# flip; normalised with the CIFAR statistics, as STLTransform does.
_base_ = ['vicreg_cifar10.py']


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


view_pipeline1 = solo_view(96)
view_pipeline2 = solo_view(96)
train_dataloader = dict(dataset=dict(
    _delete_=True, type='STL10', data_root='data/stl10/', split='train+unlabeled',
    pipeline=[dict(type='MultiView', num_views=[1, 1],
                   transforms=[view_pipeline1, view_pipeline2]),
              dict(type='PackSelfSupInputs', meta_keys=[])]))
# STL10 yields BGR images, as LoadImageFromFile would; STLTransform's (CIFAR-10) statistics
data_preprocessor = dict(mean=(125.3, 123.0, 113.9), std=(63.0, 62.0, 66.6), bgr_to_rgb=True)
