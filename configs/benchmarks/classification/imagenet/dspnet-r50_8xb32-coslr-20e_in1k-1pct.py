# Semi-supervised protocol of the DSPNet paper (as SimCLR/BYOL): fine-tune a slimmed desired
# network on 1% of the ImageNet labels. The subset annotation file lists the labelled
# images, one "path label" per line, in mmcls' ImageNet format (e.g. SimCLR's published
# 1percent.txt split converted to data/imagenet/meta/train_1percent.txt).
#   bash tools/benchmarks/transfer/mmcls_train.sh \
#       configs/benchmarks/classification/imagenet/dspnet-r50_8xb32-coslr-20e_in1k-1pct.py \
#       work_dirs/slim/r50_w05.pth 8
_base_ = ['dspnet-r50_8xb32-steplr-90e_in1k.py']

train_dataloader = dict(dataset=dict(ann_file='meta/train_1percent.txt'))
# short schedule on few labels: 20 epochs, cosine decay, small lr for the backbone
optim_wrapper = dict(optimizer=dict(lr=0.01), paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)]
train_cfg = dict(max_epochs=20)
