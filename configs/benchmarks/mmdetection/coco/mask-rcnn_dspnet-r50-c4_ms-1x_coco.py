# Mask R-CNN R50-C4, 1x schedule with multi-scale training (mmselfsup's and MoCo's protocol:
# SyncBN, nothing frozen, pytorch-style blocks, RGB mean/std, a norm after the RoI stage), on a
# desired network slimmed out of DSPNet-R50.
#   bash tools/benchmarks/transfer/mmdet_train.sh \
#       configs/benchmarks/mmdetection/coco/mask-rcnn_dspnet-r50-c4_ms-1x_coco.py \
#       work_dirs/slim/r50_w05.pth 8
# Stages 1-3 run on the image (SlimmableResNetTrunk); stage 4 of the same network runs on RoIs
# (SubnetResLayer, loaded from the same checkpoint). The RPN, RoI extractor, box and mask head
# channels follow the selected network (WithSubnetChannels).
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py',
    '../../_base_/dspnet_r50.py',
]

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='dspnet_mm.WithSubnetChannels',
    model_type='mmdet.MaskRCNN',
    from_backbone={
        'rpn_head.in_channels': 2,
        'roi_head.bbox_roi_extractor.out_channels': 2,
        'roi_head.shared_head.backbone': 'backbone',
        'roi_head.bbox_head.in_channels': 3,
        'roi_head.mask_head.in_channels': 3,
    },
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='dspnet_mm.SlimmableResNetTrunk',
        depth=50,
        num_stages=3,
        subnets=_base_.dspnet_r50_subnets,
        subnet='r50_w05',
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=_base_.slimmed_checkpoint)),
    roi_head=dict(
        shared_head=dict(
            _delete_=True,
            type='dspnet_mm.SubnetResLayer',
            stage=3,
            stride=2,
            dilation=1,
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=False,
            extra_norm=True)))

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
