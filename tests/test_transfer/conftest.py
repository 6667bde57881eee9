"""Fixtures of the transfer tests: a DSPNet-like pretraining checkpoint, two desired networks
slimmed out of it by ``dspnet_mm.apis.slim``, and small generated datasets in the layouts the
upstream datasets read (COCO instances, ADE20K, Pascal VOC). Nothing is downloaded."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import randomize_bn
from dspnet_mm.apis import export_branch, slim
from dspnet_mm.models import GatedResNet, SlimmableResNet
from dspnet_mm.testing import make_ade20k, make_coco, make_voc

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# A narrow ResNet-18 supernet with the ImageNet (7x7, stride 4) stem the R50 configs use.
SUPERNET = dict(
    type='SlimmableResNet', depth=18, stem_channels=16, base_channels=16, out_indices=(3, ),
    subnets=dict(
        r18_w1=dict(widths=1.0),
        r18_w05=dict(widths=0.5),  # uniform, full depth: a stock ResNet reads it too
        r10_mixed=dict(widths=(0.5, 0.5, 1.0, 0.75), depths=(1, 1, 1, 1)),
    ))
SUBNETS = ('r18_w05', 'r10_mixed')
DET_CLASSES = ('square', 'disc')
IMAGE_SIZE = (96, 128)  # (H, W)


@pytest.fixture(scope='session')
def slimmed(tmp_path_factory):
    """{'pretrain': path of the algorithm checkpoint, 'supernet': its backbone config,
    name: path of the slimmed checkpoint for each name in SUBNETS}."""
    root = tmp_path_factory.mktemp('pretrain')
    cfg = dict(SUPERNET)
    cfg.pop('type')
    torch.manual_seed(0)
    net = SlimmableResNet(**cfg)
    randomize_bn(net)  # non-trivial BN, so a skipped load shows
    text = Config(dict(model=dict(type='DSPNet', backbone=SUPERNET))).pretty_text
    pretrain = str(root / 'dspnet_epoch_1.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in net.state_dict().items()},
                    meta=dict(cfg=text)), pretrain)
    out = dict(pretrain=pretrain, supernet=SUPERNET)
    for name in SUBNETS:
        out[name] = str(root / f'{name}.pth')
        slim(pretrain, name, out[name])
    return out


# A narrow dual-BN GatedResNet-18 (ImageNet stem), the backbone of a VICReg-Dual-Gating run.
GATED = dict(type='GatedResNet', depth=18, stem_channels=16, base_channels=16, dual_bn=True,
             out_indices=(3, ))


@pytest.fixture(scope='session')
def gating(tmp_path_factory):
    """{'pretrain': a VICReg-Dual-Gating checkpoint, 'dense' / 'gated': the branches exported
    from it by ``dspnet_mm.apis.export_branch``}."""
    root = tmp_path_factory.mktemp('gating')
    cfg = dict(GATED)
    cfg.pop('type')
    torch.manual_seed(0)
    net = GatedResNet(**cfg)
    randomize_bn(net)  # both BN sets: reading the wrong branch's BN shows
    text = Config(dict(model=dict(type='VICRegDualGating', backbone=GATED))).pretty_text
    pretrain = str(root / 'vicreg-dual-gating_epoch_1.pth')
    state = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    state['neck.fc.weight'] = torch.zeros(4, 128)  # the rest of the algorithm is not exported
    torch.save(dict(state_dict=state, meta=dict(cfg=text)), pretrain)
    out = dict(pretrain=pretrain)
    for branch in ('dense', 'gated'):
        out[branch] = str(root / f'{branch}.pth')
        export_branch(pretrain, branch, out[branch])
    return out


@pytest.fixture(scope='session')
def coco_root(tmp_path_factory):
    """A COCO-format instance segmentation dataset: train (8 images) and val (4 images) with
    squares and discs, boxes, polygons and categories in annotations/instances_*.json."""
    return make_coco(str(tmp_path_factory.mktemp('coco')), dict(train=8, val=4), IMAGE_SIZE,
                     DET_CLASSES)


# ADE20K's classes are a fixed list; a dataset may select a subset by name. Label PNGs store
# class index + 1 (0 = "other", ignored with reduce_zero_label=True).
ADE_CLASSES = ('wall', 'building', 'sky')
# Pascal VOC's: index 0 is background, 255 is ignored.
VOC_CLASSES = ('background', 'aeroplane', 'bicycle')


@pytest.fixture(scope='session')
def ade_root(tmp_path_factory):
    """ADEChallengeData2016 layout: images/{training,validation}/*.jpg and
    annotations/{training,validation}/*.png."""
    return make_ade20k(str(tmp_path_factory.mktemp('ade')), dict(training=6, validation=3),
                       IMAGE_SIZE)


@pytest.fixture(scope='session')
def voc_root(tmp_path_factory):
    """VOC2012 layout: JPEGImages, SegmentationClass (+ SegmentationClassAug as the aug set
    has), ImageSets/Segmentation/{train,aug,val}.txt."""
    return make_voc(str(tmp_path_factory.mktemp('voc')), 9, IMAGE_SIZE)
