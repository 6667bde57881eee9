"""Mask R-CNN (FPN and C4) from configs/benchmarks/mmdetection on a generated COCO dataset,
with desired networks slimmed from a DSPNet-like checkpoint: the upstream Runner trains, loads
the slimmed weights, and evaluates with CocoMetric (pycocotools)."""

from dspnet_mm.apis import load_checkpoint_safely
from .conftest import DET_CLASSES
from .upstream_runs import (assert_loaded, load_config, run, shrink_pipeline, tiny_runtime,
                            use_slimmed_backbone)

SIZE = 80  # shorter image side in the pipelines
COCO_KEYS = [f'coco/{m}_{k}' for m in ('bbox', 'segm')
             for k in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')]


def coco_config(relpath, coco_root, work_dir):
    cfg = load_config(relpath)
    tiny_runtime(cfg, work_dir)
    metainfo = dict(classes=DET_CLASSES)
    for loader, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'),
                          ('test_dataloader', 'val')):
        ds = cfg[loader].dataset
        ds.data_root = coco_root
        ds.ann_file = f'annotations/instances_{split}.json'
        ds.data_prefix = dict(img=f'{split}/')
        ds.metainfo = metainfo
        shrink_pipeline(ds.pipeline, SIZE)
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = f'{coco_root}/annotations/instances_val.json'
    roi_head = cfg.model.roi_head
    roi_head.bbox_head.num_classes = roi_head.mask_head.num_classes = len(DET_CLASSES)
    # fewer RoIs than COCO's settings: the point is the pipeline, not the detector's quality
    cfg.model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    cfg.model.train_cfg.rcnn.sampler.num = 16
    cfg.model.test_cfg.rpn.update(nms_pre=200, max_per_img=20)
    # keep the best few detections whatever their score: after four iterations every score is
    # below COCO's threshold, and CocoMetric returns no keys for an empty result
    cfg.model.test_cfg.rcnn.update(score_thr=0.0, max_per_img=5)
    return cfg


def narrow_fpn(cfg, channels=64):
    """FPN and heads at 64 instead of 256 channels (the CPU cost is in the RoI heads)."""
    model = cfg.model
    model.neck.out_channels = channels
    model.rpn_head.update(in_channels=channels, feat_channels=channels)
    roi = model.roi_head
    roi.bbox_roi_extractor.out_channels = roi.mask_roi_extractor.out_channels = channels
    roi.bbox_head.update(in_channels=channels, conv_out_channels=channels,
                         fc_out_channels=2 * channels)
    roi.mask_head.update(in_channels=channels, conv_out_channels=channels)


def assert_coco_metrics(metrics):
    assert set(COCO_KEYS) <= set(metrics), sorted(metrics)
    # -1 marks an area range without objects (the generated ones are small)
    assert all(0 <= metrics[k] <= 1 or metrics[k] == -1 for k in COCO_KEYS), metrics
    assert metrics['coco/bbox_mAP'] >= 0 and metrics['coco/segm_mAP'] >= 0


def test_mask_rcnn_fpn_with_slimmed_network(slimmed, coco_root, tmp_path):
    subnet = 'r18_w05'
    cfg = coco_config('mmdetection/coco/mask-rcnn_dspnet-r50_fpn_ms-1x_coco.py', coco_root,
                      str(tmp_path / 'fpn'))
    use_slimmed_backbone(cfg, slimmed, subnet)
    narrow_fpn(cfg)
    rec = run(cfg, {k: f'backbone.{k}' for k in (
        'conv1.weight', 'bn1.running_mean', 'layer3.1.conv2.weight', 'layer4.0.bn2.weight')})
    assert_loaded(rec, load_checkpoint_safely(slimmed[subnet]), rec.tensors)
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox', 'loss_mask'} <= set(rec.losses[0])
    assert_coco_metrics(rec.metrics)


def test_mask_rcnn_c4_with_slimmed_network(slimmed, coco_root, tmp_path):
    """Reduced depth and per-stage widths; the RoI head runs the network's last stage, loaded
    from the same checkpoint."""
    subnet = 'r10_mixed'
    cfg = coco_config('mmdetection/coco/mask-rcnn_dspnet-r50-c4_ms-1x_coco.py', coco_root,
                      str(tmp_path / 'c4'))
    use_slimmed_backbone(cfg, slimmed, subnet)
    cfg.model.rpn_head.feat_channels = 64  # COCO's 1024 is only slow here
    rec = run(cfg, {
        'conv1.weight': 'backbone.conv1.weight',
        'layer3.0.bn1.running_var': 'backbone.layer3.0.bn1.running_var',
        'layer4.0.conv1.weight': 'roi_head.shared_head.layer4.0.conv1.weight',
        'layer4.0.downsample.1.running_mean':
            'roi_head.shared_head.layer4.0.downsample.1.running_mean'})
    assert_loaded(rec, load_checkpoint_safely(slimmed[subnet]), rec.tensors)
    assert_coco_metrics(rec.metrics)


def test_stock_resnet_reads_slimmed_uniform_network(slimmed, coco_root, tmp_path):
    """The plugin-free route: mmdet's own ResNet with the stock_resnet arguments that
    tools/slim.py records for a uniform-width, full-depth network."""
    subnet = 'r18_w05'
    ckpt = load_checkpoint_safely(slimmed[subnet])
    stock = ckpt['meta']['stock_resnet']
    assert stock == dict(depth=18, in_channels=3, stem_channels=8, base_channels=8)
    cfg = coco_config('mmdetection/coco/mask-rcnn_r50-stock_fpn_ms-1x_coco.py', coco_root,
                      str(tmp_path / 'stock'))
    assert cfg.model.backbone.type == 'ResNet' and 'custom_imports' not in cfg
    cfg.model.backbone.update(stock, init_cfg=dict(type='Pretrained',
                                                   checkpoint=slimmed[subnet]))
    cfg.model.neck.in_channels = [8 * 2**i for i in range(4)]  # BasicBlock: no expansion
    narrow_fpn(cfg)
    rec = run(cfg, {k: f'backbone.{k}' for k in ('conv1.weight', 'layer4.1.bn2.running_var')})
    assert_loaded(rec, ckpt, rec.tensors)
    assert type(rec.model_backbone).__module__.startswith('mmdet')
    assert_coco_metrics(rec.metrics)
