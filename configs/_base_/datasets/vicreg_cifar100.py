# CIFAR-100 train split (50k, 32x32), the reference's views as CIFAR-10 except a Gaussian blur
# (sigma 0.1-2) with p 0.2 on the second view (bash_files/pretrain/cifar100/vicreg_gating.sh:
# --gaussian_prob 0.0 0.2). Data: cifar-100-python.tar.gz unpacked into data/cifar100/
# (data/cifar100/cifar-100-python/{train,test,meta}).
_base_ = ['vicreg_cifar10.py']


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
view_pipeline2 = solo_view(32, blur_prob=0.2)
train_dataloader = dict(dataset=dict(
    type='LocalCIFAR100', data_prefix='data/cifar100/',
    pipeline=[dict(type='MultiView', num_views=[1, 1],
                   transforms=[view_pipeline1, view_pipeline2]),
              dict(type='PackSelfSupInputs', meta_keys=[])]))
data_preprocessor = dict(mean=(129.3, 124.1, 112.4), std=(68.2, 65.4, 70.4))
