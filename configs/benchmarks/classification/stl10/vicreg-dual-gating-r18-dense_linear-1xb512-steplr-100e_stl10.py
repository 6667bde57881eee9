# Linear evaluation of the dense branch (the reference's --flag 1) of
# configs/vicreg-dual-gating_r18_stl10.py on STL-10 (train 5,000 labelled / test 8,000), the
# reference's protocol (configs/benchmarks/_base_/vicreg_linear_r18.py). Views as
# classification_dataloader.py's stl_pipeline: train = random resized crop 96 (scale 0.08-1)
# + flip, test = resize to 96x96 (the native size); CIFAR-10 statistics, as there.
_base_ = ['../../_base_/vicreg_linear_r18.py']
pretrained = 'work_dirs/vicreg-dual-gating_r18_stl10/epoch_500.pth'
model = dict(
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=10,
                           mean=(125.3, 123.0, 113.9), std=(63.0, 62.0, 66.6), to_rgb=True),
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),  # ImageNet stem (7x7/2, max-pool)
    head=dict(num_classes=10))
train_pipeline = [
    dict(type='RandomResizedCrop', scale=96, crop_ratio_range=(0.08, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='Resize', scale=(96, 96), backend='pillow'),
                 dict(type='PackClsInputs')]
train_dataloader = dict(dataset=dict(type='dspnet_mm.STL10', data_root='data/stl10/',
                                     split='train', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='dspnet_mm.STL10', data_root='data/stl10/',
                                   split='test', pipeline=test_pipeline))
test_dataloader = val_dataloader
