# Linear evaluation of the dense branch (the reference's --flag 1) of
# configs/vicreg-dual-gating_r18_in100.py on ImageNet-100 (data/imagenet100/ with
# meta/train.txt + train/ and meta/val.txt + val/), the reference's protocol
# (configs/benchmarks/_base_/vicreg_linear_r18.py). Views as classification_dataloader.py's
# imagenet_pipeline: train = random resized crop 224 (scale 0.08-1) + flip, test = short side
# 256 + centre crop 224; solo-learn's ImageNet statistics (std 0.228, 0.224, 0.225).
_base_ = ['../../_base_/vicreg_linear_r18.py']
pretrained = 'work_dirs/vicreg-dual-gating_r18_in100/epoch_500.pth'
model = dict(
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=100,
                           mean=(123.675, 116.28, 103.53), std=(58.14, 57.12, 57.375),
                           to_rgb=True),
    backbone=dict(init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=100))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.08, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackClsInputs'),
]
train_dataloader = dict(dataset=dict(type='mmcls.CustomDataset', data_root='data/imagenet100/',
                                     ann_file='meta/train.txt',
                                     data_prefix=dict(img_path='train/'),
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='mmcls.CustomDataset', data_root='data/imagenet100/',
                                   ann_file='meta/val.txt', data_prefix=dict(img_path='val/'),
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
