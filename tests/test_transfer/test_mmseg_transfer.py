"""FCN-D8 and UPerNet from configs/benchmarks/mmsegmentation on generated Pascal VOC and ADE20K
layouts, with desired networks slimmed from a DSPNet-like checkpoint: the upstream Runner
trains, loads the slimmed weights, and evaluates with IoUMetric."""
import torch

from dspnet_mm.apis import load_checkpoint_safely
from .conftest import ADE_CLASSES, VOC_CLASSES
from .upstream_runs import (assert_loaded, load_config, run, shrink_pipeline, tiny_runtime,
                            use_slimmed_backbone)

CROP = 64


def seg_config(relpath, data_root, classes, work_dir):
    cfg = load_config(relpath)
    tiny_runtime(cfg, work_dir)
    train = cfg.train_dataloader.dataset
    datasets = [train, cfg.val_dataloader.dataset, cfg.test_dataloader.dataset]
    datasets += train.get('datasets', [])  # VOC trains on ConcatDataset(train, aug)
    for ds in datasets:
        if 'pipeline' in ds:
            ds.data_root = data_root
            ds.metainfo = dict(classes=classes)
            shrink_pipeline(ds.pipeline, CROP)
    cfg.model.data_preprocessor.size = (CROP, CROP)
    cfg.model.decode_head.num_classes = cfg.model.auxiliary_head.num_classes = len(classes)
    # narrower heads than the paper's 512 / 256 channels: CPU time
    cfg.model.decode_head.channels = cfg.model.auxiliary_head.channels = 32
    return cfg


def check_run(rec, checkpoint_path):
    assert_loaded(rec, load_checkpoint_safely(checkpoint_path), rec.tensors)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(rec.losses[0]), rec.losses[0]
    assert {'mIoU', 'aAcc', 'mAcc'} <= set(rec.metrics), rec.metrics
    assert 0 <= rec.metrics['mIoU'] <= 100


def test_fcn_d8_on_voc_layout_with_slimmed_network(slimmed, voc_root, tmp_path):
    subnet = 'r18_w05'
    cfg = seg_config('mmsegmentation/voc12aug/fcn_dspnet-r50-d8_4xb4-20k_voc12aug-512x512.py',
                     voc_root, VOC_CLASSES, str(tmp_path / 'fcn'))
    use_slimmed_backbone(cfg, slimmed, subnet)
    assert cfg.model.backbone.dilations == (1, 1, 2, 4)
    rec = run(cfg, {k: f'backbone.{k}' for k in (
        'conv1.weight', 'layer2.0.downsample.1.running_mean', 'layer4.1.conv2.weight')})
    check_run(rec, slimmed[subnet])
    # output stride 8: the dilated stages keep the resolution of stage 2
    backbone = rec.model_backbone.eval()
    with torch.no_grad():
        feats = backbone(torch.zeros(1, 3, CROP, CROP))
    assert [f.shape[-1] for f in feats] == [CROP // 4, CROP // 8, CROP // 8, CROP // 8]
    assert backbone.layer4[1].conv1.dilation == (4, 4)  # BasicBlock: the first 3x3 conv


def test_upernet_on_ade20k_layout_with_slimmed_network(slimmed, ade_root, tmp_path):
    subnet = 'r10_mixed'
    cfg = seg_config('mmsegmentation/ade20k/upernet_dspnet-r50_4xb4-160k_ade20k-512x512.py',
                     ade_root, ADE_CLASSES, str(tmp_path / 'upernet'))
    use_slimmed_backbone(cfg, slimmed, subnet)
    rec = run(cfg, {k: f'backbone.{k}' for k in (
        'conv1.weight', 'bn1.running_var', 'layer3.0.conv1.weight', 'layer4.0.bn2.bias')})
    check_run(rec, slimmed[subnet])
