"""Generated datasets in the file formats the configs read (tests and the pipeline audit).

Nothing can be downloaded on CI machines, so the tests write small datasets in each dataset's
own layout and file format: ImageNet-style folders of RGB JPEGs with ``meta/train.txt``, the
pickled CIFAR batches, STL-10's binary files, COCO instances, ADE20K, Pascal VOC and
Cityscapes. :func:`write_fake_data` reads a config's dataset and writes what it expects.
"""
import json
import os
import os.path as osp
import pickle
import struct
from typing import Dict, Tuple

import cv2
import numpy as np

# a typical image of each dataset, (H, W)
IMAGENET_SIZE = (375, 500)
COCO_SIZE = (480, 640)
ADE_SIZE = (512, 683)
VOC_SIZE = (375, 500)
CITYSCAPES_SIZE = (1024, 2048)
DET_CLASSES = ('person', 'bicycle')  # COCO's own names: an unchanged CocoDataset keeps them


def random_rgb(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colourful (h, w, 3) uint8 image: smooth random colour fields plus noise, so every
    hue, saturation and brightness occurs and JPEG keeps it colourful."""
    coarse = rng.integers(0, 256, size=(max(h // 32, 2), max(w // 32, 2), 3)).astype(np.uint8)
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    img += rng.integers(-12, 13, size=(h, w, 3)).astype(np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_image_folder(root: str, num_images: int, size: Tuple[int, int] = IMAGENET_SIZE,
                      num_classes: int = 2, prefix: str = 'train',
                      ann_file: str = 'meta/train.txt', seed: int = 0) -> str:
    """ImageNet layout: ``root/prefix/<class>/<name>.JPEG`` (RGB JPEGs) and ``root/ann_file``
    with one ``<class>/<name>.JPEG <label>`` line per image. Returns ``root``."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(num_images):
        label = i % num_classes
        rel = f'n{label:08d}/img_{i:05d}.JPEG'
        path = osp.join(root, prefix, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, random_rgb(rng, *size))
        lines.append(f'{rel} {label}')
    if ann_file:
        os.makedirs(osp.dirname(osp.join(root, ann_file)), exist_ok=True)
        with open(osp.join(root, ann_file), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def make_cifar(root: str, num_classes: int = 10, images_per_batch: int = 4,
               seed: int = 0) -> str:
    """The unpacked python release of CIFAR-10 (``root/cifar-10-batches-py/data_batch_1..5``,
    ``test_batch``, ``batches.meta``) or CIFAR-100 (``root/cifar-100-python/train``, ``test``,
    ``meta``): pickled dicts with ``data`` uint8 (N, 3072) in R, G, B planes and the labels."""
    rng = np.random.default_rng(seed)
    if num_classes == 10:
        folder, names, label_key = 'cifar-10-batches-py', [
            *(f'data_batch_{i}' for i in range(1, 6)), 'test_batch'], 'labels'
        meta = ('batches.meta', dict(label_names=[f'c{i}' for i in range(10)]))
    elif num_classes == 100:
        folder, names, label_key = 'cifar-100-python', ['train', 'test'], 'fine_labels'
        meta = ('meta', dict(fine_label_names=[f'c{i}' for i in range(100)]))
    else:
        raise ValueError(f'num_classes {num_classes}: CIFAR has 10 or 100')
    os.makedirs(osp.join(root, folder), exist_ok=True)
    for name in names:
        images = np.stack([random_rgb(rng, 32, 32) for _ in range(images_per_batch)])
        data = images.transpose(0, 3, 1, 2).reshape(images_per_batch, -1)  # RGB planes
        labels = [int(x) for x in rng.integers(0, num_classes, images_per_batch)]
        with open(osp.join(root, folder, name), 'wb') as f:
            pickle.dump({'data': data, label_key: labels}, f, protocol=2)
    with open(osp.join(root, folder, meta[0]), 'wb') as f:
        pickle.dump(meta[1], f, protocol=2)
    return root


def make_stl10(root: str, num_train: int = 2, num_unlabeled: int = 4, num_test: int = 2,
               seed: int = 0) -> str:
    """STL-10's binary release unpacked into ``root/stl10_binary/``: ``*_X.bin`` with 96x96
    RGB images stored channel by channel, each channel column-major; ``*_y.bin`` labels
    1..10 (uint8)."""
    rng = np.random.default_rng(seed)
    folder = osp.join(root, 'stl10_binary')
    os.makedirs(folder, exist_ok=True)
    for split, n in (('train', num_train), ('test', num_test), ('unlabeled', num_unlabeled)):
        images = np.stack([random_rgb(rng, 96, 96) for _ in range(n)])  # (N, H, W, C) RGB
        images.transpose(0, 3, 2, 1).tofile(osp.join(folder, f'{split}_X.bin'))
        if split != 'unlabeled':
            rng.integers(1, 11, n).astype(np.uint8).tofile(osp.join(folder, f'{split}_y.bin'))
    with open(osp.join(folder, 'class_names.txt'), 'w') as f:
        f.write('\n'.join(['airplane', 'bird', 'car', 'cat', 'deer', 'dog', 'horse', 'monkey',
                           'ship', 'truck']) + '\n')
    return root


def draw_objects(rng: np.random.Generator, h: int, w: int, n: int):
    """Image, per-pixel class map (0 = background, 1 = square, 2 = disc) and instances
    [(class index, polygon as [x0, y0, x1, y1, ...])]."""
    img = np.clip(rng.integers(40, 120, size=3) + rng.integers(-20, 20, size=(h, w, 3)), 0,
                  255).astype(np.uint8)
    label = np.zeros((h, w), np.uint8)
    instances = []
    lo, hi = max(min(h, w) // 6, 4), max(min(h, w) // 3, 6)
    for _ in range(n):
        cls = int(rng.integers(0, 2))
        size = int(rng.integers(lo, hi))
        x0, y0 = int(rng.integers(0, w - size)), int(rng.integers(0, h - size))
        if cls == 0:
            poly = np.array([[x0, y0], [x0 + size, y0], [x0 + size, y0 + size],
                             [x0, y0 + size]], np.int32)
        else:
            t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            r, cx, cy = size / 2, x0 + size / 2, y0 + size / 2
            poly = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).round().astype(np.int32)
        cv2.fillPoly(img, [poly], (230, 60, 60) if cls == 0 else (60, 220, 80))
        cv2.fillPoly(label, [poly], cls + 1)
        instances.append((cls, poly.reshape(-1).astype(float).tolist()))
    return img, label, instances


def make_coco(root: str, splits: Dict[str, int] = None, size: Tuple[int, int] = COCO_SIZE,
              classes: Tuple[str, str] = DET_CLASSES, seed: int = 0) -> str:
    """COCO instances: ``root/<split>/*.jpg`` and ``annotations/instances_<split>.json`` for
    each split name (default ``train2017``, ``val2017``): boxes, polygons, and two categories
    named ``classes`` (squares and discs)."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    h, w = size
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(classes)]
    for split, num_images in (splits or dict(train2017=4, val2017=2)).items():
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(num_images):
            img, _, instances = draw_objects(rng, h, w, int(rng.integers(1, 4)))
            name = f'{split}_{i:04d}.jpg'
            cv2.imwrite(osp.join(root, split, name), img)
            images.append(dict(id=i + 1, file_name=name, height=h, width=w))
            for cls, poly in instances:
                xs, ys = poly[0::2], poly[1::2]
                x, y = min(xs), min(ys)
                area = float(cv2.contourArea(np.array(poly, np.float32).reshape(-1, 2)))
                annotations.append(dict(id=len(annotations) + 1, image_id=i + 1,
                                        category_id=cls + 1,
                                        bbox=[x, y, max(xs) - x, max(ys) - y], area=area,
                                        segmentation=[poly], iscrowd=0))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return root


def make_ade20k(root: str, splits: Dict[str, int] = None, size: Tuple[int, int] = ADE_SIZE,
                seed: int = 1) -> str:
    """ADEChallengeData2016 layout: ``images/<split>/*.jpg`` and ``annotations/<split>/*.png``
    (class index + 1; 0 is "other")."""
    rng = np.random.default_rng(seed)
    for split, n in (splits or dict(training=4, validation=2)).items():
        for d in ('images', 'annotations'):
            os.makedirs(osp.join(root, d, split), exist_ok=True)
        for i in range(n):
            img, label, _ = draw_objects(rng, *size, 3)
            name = f'ADE_{split}_{i:08d}'
            cv2.imwrite(osp.join(root, 'images', split, name + '.jpg'), img)
            cv2.imwrite(osp.join(root, 'annotations', split, name + '.png'), label + 1)
    return root


def make_voc(root: str, num_images: int = 6, size: Tuple[int, int] = VOC_SIZE,
             seed: int = 2) -> str:
    """VOC2012 layout: JPEGImages, SegmentationClass and SegmentationClassAug (class index,
    255 = ignore), ``ImageSets/Segmentation/{train,aug,val}.txt`` (two thirds train)."""
    rng = np.random.default_rng(seed)
    for d in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
              'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, d), exist_ok=True)
    splits = dict(train=[], val=[])
    for i in range(num_images):
        img, label, _ = draw_objects(rng, *size, 3)
        label[:2] = 255  # a band of "ignore", as VOC's object borders
        name = f'2007_{i:06d}'
        cv2.imwrite(osp.join(root, 'JPEGImages', name + '.jpg'), img)
        for d in ('SegmentationClass', 'SegmentationClassAug'):
            cv2.imwrite(osp.join(root, d, name + '.png'), label)
        splits['train' if i < num_images * 2 // 3 else 'val'].append(name)
    splits['aug'] = splits['train'][:max(len(splits['train']) // 2, 1)]
    for split, names in splits.items():
        with open(osp.join(root, 'ImageSets/Segmentation', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
    return root


def make_cityscapes(root: str, splits: Dict[str, int] = None,
                    size: Tuple[int, int] = CITYSCAPES_SIZE, seed: int = 3) -> str:
    """Cityscapes layout: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and
    ``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png`` (train ids 0..18, 255 = ignore)."""
    rng = np.random.default_rng(seed)
    for split, n in (splits or dict(train=2, val=1)).items():
        for d in ('leftImg8bit', 'gtFine'):
            os.makedirs(osp.join(root, d, split, 'city'), exist_ok=True)
        for i in range(n):
            img, label, _ = draw_objects(rng, *size, 3)
            stem = f'city_{i:06d}_000019'
            cv2.imwrite(osp.join(root, 'leftImg8bit', split, 'city', stem + '_leftImg8bit.png'),
                        img)
            cv2.imwrite(osp.join(root, 'gtFine', split, 'city',
                                 stem + '_gtFine_labelTrainIds.png'), label)
    return root


def make_fashion_mnist(root: str, num_images: int = 4, seed: int = 0) -> str:
    """The four uncompressed IDX files of Fashion-MNIST (28x28 grey, labels 0..9)."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for split in ('train', 't10k'):
        images = np.stack([random_rgb(rng, 28, 28)[..., 0] for _ in range(num_images)])
        with open(osp.join(root, f'{split}-images-idx3-ubyte'), 'wb') as f:
            f.write(struct.pack('>IIII', 0x803, num_images, 28, 28) + images.tobytes())
        with open(osp.join(root, f'{split}-labels-idx1-ubyte'), 'wb') as f:
            labels = rng.integers(0, 10, num_images).astype(np.uint8)
            f.write(struct.pack('>II', 0x801, num_images) + labels.tobytes())
    return root


def _prefix(cfg: dict, key: str, default: str) -> str:
    prefix = cfg.get('data_prefix', default)
    return (prefix.get(key, default) if isinstance(prefix, dict) else prefix).strip('/')


def write_fake_data(dataset: dict, root: str, num_images: int = 4) -> Dict[str, str]:
    """Write ``num_images`` generated images in the layout and file format the dataset config
    ``dataset`` reads, under ``root``; return the dataset keys to override so it reads them
    (``{'data_root': root}``, ``{'datasets.1.data_root': root}``, ...). Raises ValueError for
    a dataset type it does not know."""
    kind = dataset['type'].split('.')[-1]
    if kind in ('ConcatDataset', 'RepeatDataset', 'ClassBalancedDataset'):
        inner = dataset['datasets'] if kind == 'ConcatDataset' else [dataset['dataset']]
        out = {}
        for i, d in enumerate(inner):
            key = f'datasets.{i}.' if kind == 'ConcatDataset' else 'dataset.'
            out.update({key + k: v for k, v in write_fake_data(d, root, num_images).items()})
        return out
    if kind in ('ImageNet', 'CustomDataset'):
        make_image_folder(root, num_images, prefix=_prefix(dataset, 'img_path', ''),
                          ann_file=dataset.get('ann_file', ''))
        return dict(data_root=root)
    if kind in ('LocalCIFAR10', 'LocalCIFAR100'):
        make_cifar(root, 100 if kind.endswith('100') else 10, images_per_batch=num_images)
        return dict(data_prefix=root)
    if kind == 'STL10':
        make_stl10(root, num_train=num_images // 2, num_unlabeled=num_images - num_images // 2)
        return dict(data_root=root)
    if kind == 'LocalFashionMNIST':
        make_fashion_mnist(root, num_images)
        return dict(data_prefix=root)
    if kind == 'CocoDataset':
        split = _prefix(dataset, 'img', 'train2017')
        make_coco(root, {split: num_images})
        ann = dataset['ann_file']
        if ann != f'annotations/instances_{split}.json':
            raise ValueError(f'CocoDataset ann_file {ann!r} is not instances_{split}.json')
        return dict(data_root=root)
    if kind == 'ADE20KDataset':
        make_ade20k(root, {_prefix(dataset, 'img_path', 'images/training').split('/')[-1]:
                           num_images})
        return dict(data_root=root)
    if kind == 'PascalVOCDataset':
        make_voc(root, max(num_images, 3))
        return dict(data_root=root)
    if kind == 'CityscapesDataset':
        make_cityscapes(root, {_prefix(dataset, 'img_path', 'leftImg8bit/train').split('/')[-1]:
                               num_images})
        return dict(data_root=root)
    raise ValueError(f'no generated data for dataset type {dataset["type"]!r}')
