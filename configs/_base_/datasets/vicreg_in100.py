# ImageNet-100 (the 100-class subset of CMC), 224x224 views, from data/imagenet100/ with an
# annotation file meta/train.txt ("relative/path.JPEG label" per line).
_base_ = ['mmselfsup::selfsup/_base_/datasets/imagenet_byol.py']
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)
train_dataloader = dict(
    batch_size=256, num_workers=8,
    dataset=dict(type='mmcls.CustomDataset', data_root='data/imagenet100/',
                 ann_file='meta/train.txt', data_prefix=dict(img_path='train/')))
data_preprocessor = dict(type='SelfSupDataPreprocessor', mean=(123.675, 116.28, 103.53),
                         std=(58.395, 57.12, 57.375), bgr_to_rgb=True)
