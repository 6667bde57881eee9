"""Fixtures of the transfer tests: a DSPNet-like pretraining checkpoint, two desired networks
slimmed out of it by ``dspnet_mm.apis.slim``, and small generated datasets in the layouts the
upstream datasets read (COCO instances, ADE20K, Pascal VOC). Nothing is downloaded."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import randomize_bn
from dspnet_mm.apis import export_branch, slim
from dspnet_mm.models import GatedResNet, SlimmableResNet

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


def _background(rng, h, w):
    base = rng.integers(40, 120, size=3)
    noise = rng.integers(-20, 20, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _draw_objects(rng, h, w, n):
    """Image, per-pixel class map (0 = background, 1 = square, 2 = disc) and instances
    [(class index, polygon as [x0, y0, x1, y1, ...])]."""
    img = _background(rng, h, w)
    label = np.zeros((h, w), np.uint8)
    instances = []
    for _ in range(n):
        cls = int(rng.integers(0, 2))
        size = int(rng.integers(18, 36))
        x0, y0 = int(rng.integers(0, w - size)), int(rng.integers(0, h - size))
        if cls == 0:
            poly = np.array([[x0, y0], [x0 + size, y0], [x0 + size, y0 + size],
                             [x0, y0 + size]], np.int32)
        else:
            t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            r, cx, cy = size / 2, x0 + size / 2, y0 + size / 2
            poly = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).round().astype(np.int32)
        color = (230, 60, 60) if cls == 0 else (60, 220, 80)
        cv2.fillPoly(img, [poly], color)
        cv2.fillPoly(label, [poly], cls + 1)
        instances.append((cls, poly.reshape(-1).astype(float).tolist()))
    return img, label, instances


def _coco_split(rng, root, split, num_images):
    os.makedirs(osp.join(root, split), exist_ok=True)
    h, w = IMAGE_SIZE
    images, annotations = [], []
    for i in range(num_images):
        img, _, instances = _draw_objects(rng, h, w, int(rng.integers(1, 4)))
        name = f'{split}_{i:04d}.jpg'
        cv2.imwrite(osp.join(root, split, name), img)
        images.append(dict(id=i + 1, file_name=name, height=h, width=w))
        for cls, poly in instances:
            xs, ys = poly[0::2], poly[1::2]
            x, y = min(xs), min(ys)
            bw, bh = max(xs) - x, max(ys) - y
            area = float(cv2.contourArea(np.array(poly, np.float32).reshape(-1, 2)))
            annotations.append(dict(id=len(annotations) + 1, image_id=i + 1,
                                    category_id=cls + 1, bbox=[x, y, bw, bh], area=area,
                                    segmentation=[poly], iscrowd=0))
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(DET_CLASSES)]
    with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)


@pytest.fixture(scope='session')
def coco_root(tmp_path_factory):
    """A COCO-format instance segmentation dataset: train (8 images) and val (4 images) with
    squares and discs, boxes, polygons and categories in annotations/instances_*.json."""
    root = str(tmp_path_factory.mktemp('coco'))
    os.makedirs(osp.join(root, 'annotations'))
    rng = np.random.default_rng(0)
    _coco_split(rng, root, 'train', 8)
    _coco_split(rng, root, 'val', 4)
    return root


# ADE20K's classes are a fixed list; a dataset may select a subset by name. Label PNGs store
# class index + 1 (0 = "other", ignored with reduce_zero_label=True).
ADE_CLASSES = ('wall', 'building', 'sky')
# Pascal VOC's: index 0 is background, 255 is ignored.
VOC_CLASSES = ('background', 'aeroplane', 'bicycle')


@pytest.fixture(scope='session')
def ade_root(tmp_path_factory):
    """ADEChallengeData2016 layout: images/{training,validation}/*.jpg and
    annotations/{training,validation}/*.png."""
    root = str(tmp_path_factory.mktemp('ade'))
    rng = np.random.default_rng(1)
    h, w = IMAGE_SIZE
    for split, n in (('training', 6), ('validation', 3)):
        for d in ('images', 'annotations'):
            os.makedirs(osp.join(root, d, split))
        for i in range(n):
            img, label, _ = _draw_objects(rng, h, w, 3)
            name = f'ADE_{split}_{i:08d}'
            cv2.imwrite(osp.join(root, 'images', split, name + '.jpg'), img)
            cv2.imwrite(osp.join(root, 'annotations', split, name + '.png'), label + 1)
    return root


@pytest.fixture(scope='session')
def voc_root(tmp_path_factory):
    """VOC2012 layout: JPEGImages, SegmentationClass (+ SegmentationClassAug as the aug set
    has), ImageSets/Segmentation/{train,aug,val}.txt."""
    root = str(tmp_path_factory.mktemp('voc'))
    rng = np.random.default_rng(2)
    h, w = IMAGE_SIZE
    for d in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
              'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, d))
    splits = dict(train=[], val=[])
    for i in range(9):
        img, label, _ = _draw_objects(rng, h, w, 3)
        label[:2] = 255  # a band of "ignore", as VOC's object borders
        name = f'2007_{i:06d}'
        cv2.imwrite(osp.join(root, 'JPEGImages', name + '.jpg'), img)
        for d in ('SegmentationClass', 'SegmentationClassAug'):
            cv2.imwrite(osp.join(root, d, name + '.png'), label)
        splits['train' if i < 6 else 'val'].append(name)
    splits['aug'] = splits['train'][:3]
    for split, names in splits.items():
        with open(osp.join(root, 'ImageSets/Segmentation', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return root
