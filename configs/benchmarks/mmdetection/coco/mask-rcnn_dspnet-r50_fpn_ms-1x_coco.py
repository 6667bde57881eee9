# Mask R-CNN R50-FPN, 1x schedule with multi-scale training (mmselfsup's and MoCo's detection
# protocol: SyncBN everywhere, nothing frozen), on a desired network slimmed out of DSPNet-R50.
#   bash tools/benchmarks/transfer/mmdet_train.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_dspnet-r50_fpn_ms-1x_coco.py \
#       work_dirs/slim/r50_w05.pth 8
# The FPN's in_channels follow the selected network (WithSubnetChannels): pick another one
# with --cfg-options model.backbone.subnet=r50_w025 and a checkpoint slimmed to it.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../../_base_/dspnet_r50.py',
]

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmdet.MaskRCNN',
    from_backbone={'neck.in_channels': [0, 1, 2, 3]},
    backbone=dict(**_base_.dspnet_r50_backbone, frozen_stages=-1),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomChoiceResize',
         scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736), (1333, 768),
                 (1333, 800)],
         keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
