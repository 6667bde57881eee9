"""Every config under configs/benchmarks parses, builds its upstream model at full size, and
runs a forward pass whose shapes prove the derived channel counts match the network."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from dspnet_mm.apis import subnet_stage_channels
from .conftest import REPO
from .upstream_runs import BENCHMARKS

CONFIGS = sorted(osp.relpath(p, BENCHMARKS) for p in glob.glob(
    osp.join(BENCHMARKS, '**', '*.py'), recursive=True) if '_base_' not in p)


def build(cfg):
    init_default_scope(cfg.default_scope)
    return revert_sync_batchnorm(MODELS.build(cfg.model)).eval()


def forward(model, x):
    """Run the parts whose input channels were derived; return the backbone's features."""
    if hasattr(model, 'rpn_head'):  # mmdet two-stage detector
        feats = model.extract_feat(x)
        model.rpn_head(feats)
        rois = torch.tensor([[0., 4., 4., 40., 36.], [0., 0., 0., 60., 60.]])
        model.roi_head._bbox_forward(feats, rois)
        model.roi_head._mask_forward(feats, rois)
        return model.backbone(x)
    if hasattr(model, 'decode_head'):  # mmseg encoder-decoder
        feats = model.extract_feat(x)
        model.decode_head(feats)
        model.auxiliary_head(feats)
        return feats
    model(x, mode='tensor')  # mmcls classifier
    return model.backbone(x)


def test_every_benchmark_config_is_listed():
    # detection: DSPNet FPN, C4, stock R50; gating R18 gated (plugin) and dense (stock);
    # segmentation: DSPNet FCN (VOC, Cityscapes), UPerNet, stock R50 FCN; gating R18 FCN gated
    # and dense (stock); classification: linear, fine-tune, 1% and 10% labels; linear
    # evaluation of the dense and gated branches of dynamic-gating VICReg on CIFAR-10/100,
    # STL-10 and ImageNet-100 (8)
    assert len(CONFIGS) == 23, CONFIGS


# stage widths each kind of config builds (ResNet-50 at width 0.5 for the DSPNet plugin configs)
R50, R50_W05, R18 = [256, 512, 1024, 2048], [128, 256, 512, 1024], [64, 128, 256, 512]


@pytest.mark.parametrize('relpath', CONFIGS)
def test_config_parses_builds_and_runs(relpath):
    cfg = Config.fromfile(osp.join(BENCHMARKS, relpath))
    backbone = cfg.model.backbone
    stock = backbone.type == 'ResNet'
    if not stock:
        assert cfg.custom_imports.imports == ['dspnet_mm']
        assert cfg.model.type == 'dspnet_mm.WithSubnetChannels'
    if backbone.type == 'dspnet_mm.PlainResNet':
        assert backbone.subnet == 'r50_w05'
    # indices count stages from 0 in every upstream library and in PlainResNet
    assert all(0 <= i <= 3 for i in backbone.out_indices)
    model = build(cfg)
    with torch.no_grad():
        feats = forward(model, torch.randn(1, 3, 64, 64))
    widths = [f.shape[1] for f in feats]
    expected = R18 if '-r18' in relpath else R50 if stock else R50_W05
    if not stock:
        assert subnet_stage_channels(backbone) == tuple(expected)
    if backbone.type == 'dspnet_mm.GatedResNet':  # the branch the config selects runs
        assert model.backbone.gated == backbone.get('gated', False)
        assert (model.backbone.layer1[0].last_mask is not None) == model.backbone.gated
    assert widths == [expected[i] for i in backbone.out_indices]


@pytest.mark.parametrize('pct', [1, 10])
def test_semi_supervised_configs_use_the_label_subset(pct):
    cfg = Config.fromfile(osp.join(
        BENCHMARKS, f'classification/imagenet/dspnet-r50_8xb32-coslr-20e_in1k-{pct}pct.py'))
    assert cfg.train_dataloader.dataset.ann_file == f'meta/train_{pct}percent.txt'
    assert cfg.train_cfg.max_epochs == 20 and cfg.model.backbone.subnet == 'r50_w05'


@pytest.mark.parametrize('relpath,subnet,widths', [
    ('mmdetection/coco/mask-rcnn_dspnet-r50_fpn_ms-1x_coco.py', 'r50_w025', [64, 128, 256, 512]),
    ('mmdetection/coco/mask-rcnn_dspnet-r50-c4_ms-1x_coco.py', 'r26_w05', [512]),
])
def test_selecting_another_network_rederives_channels(relpath, subnet, widths):
    """What a user does on the command line: --cfg-options model.backbone.subnet=NAME."""
    cfg = Config.fromfile(osp.join(BENCHMARKS, relpath))
    cfg.merge_from_dict({'model.backbone.subnet': subnet})
    model = build(cfg)
    with torch.no_grad():
        feats = forward(model, torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == widths
    if 'c4' in relpath:  # the RoI stage has the network's last-stage width and depth
        head = model.roi_head.shared_head
        assert len(head.layer4) == 2 and head.out_channels == 1024


def test_desired_networks_match_the_pretraining_config():
    """One table (configs/_base_/models/dspnet_r50_subnets.py) reaches both sides."""
    pretrain = Config.fromfile(osp.join(REPO, 'configs', 'dspnet_r50.py'))
    shared = Config.fromfile(osp.join(BENCHMARKS, '_base_', 'dspnet_r50.py'))
    assert shared.dspnet_r50_subnets.to_dict() == pretrain.model.backbone.subnets.to_dict()
    assert set(pretrain.model.backbone.subnets) == {'r50_w1', 'r50_w075', 'r50_w05', 'r50_w025',
                                                    'r26_w05'}
