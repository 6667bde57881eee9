"""STL-10 read from its binary release, without unpacking it into image files."""
import os.path as osp

import numpy as np
from mmcls.datasets import BaseDataset

from dspnet_mm.registry import DATASETS

IMAGE_BYTES = 3 * 96 * 96
SPLITS = {'train': ('train_X.bin', 'train_y.bin'), 'test': ('test_X.bin', 'test_y.bin'),
          'unlabeled': ('unlabeled_X.bin', None)}
CLASSES = ('airplane', 'bird', 'car', 'cat', 'deer', 'dog', 'horse', 'monkey', 'ship', 'truck')


@DATASETS.register_module()
class STL10(BaseDataset):
    """STL-10 (Coates et al., 2011) from ``stl10_binary.tar.gz`` unpacked into ``data_root``
    (``data_root/stl10_binary/{train,test,unlabeled}_X.bin``, ``*_y.bin``).

    Args:
        data_root: the folder holding ``stl10_binary/``.
        split: ``'train'`` (5,000 labelled), ``'test'`` (8,000), ``'unlabeled'`` (100,000) or
            several joined by ``+``; self-supervised pretraining uses ``'train+unlabeled'``.
        **kwargs: as ``mmcls.BaseDataset`` (``pipeline``, ``indices``, ...).

    Images are read lazily, one 27,648-byte record at a time, as (96, 96, 3) uint8 BGR like
    an image file loaded by ``LoadImageFromFile``; ``gt_label`` is 0..9, or -1 when unlabeled.
    """
    METAINFO = {'classes': CLASSES}

    def __init__(self, data_root: str, split: str = 'train+unlabeled', **kwargs):
        parts = split.split('+')
        bad = [p for p in parts if p not in SPLITS]
        if bad or not parts:
            raise ValueError(f'STL10 split {split!r}: {bad} unknown; use '
                             f'{sorted(SPLITS)} joined by "+"')
        self.split_names = parts
        super().__init__(ann_file='', data_root=data_root, data_prefix='stl10_binary',
                         **kwargs)

    def _record_count(self, path: str) -> int:
        size = osp.getsize(path)
        if size == 0 or size % IMAGE_BYTES:
            raise ValueError(f'{path} holds {size} bytes, not a whole number of 96x96x3 '
                             f'images ({IMAGE_BYTES} bytes each): truncated download?')
        return size // IMAGE_BYTES

    def load_data_list(self):
        folder = self.data_prefix['img_path']
        files = [osp.join(folder, f) for p in self.split_names for f in SPLITS[p] if f]
        missing = [osp.basename(f) for f in files if not osp.isfile(f)]
        if missing:
            raise FileNotFoundError(f'STL10: folder {folder!r} lacks {missing}; unpack '
                                    f'stl10_binary.tar.gz into {self.data_root!r}')
        data_list = []
        for part in self.split_names:
            images, labels = (osp.join(folder, f) if f else None for f in SPLITS[part])
            n = self._record_count(images)
            if labels is None:
                targets = np.full(n, -1, np.int64)
            else:
                targets = np.fromfile(labels, dtype=np.uint8).astype(np.int64) - 1
                if len(targets) != n or targets.min() < 0 or targets.max() > 9:
                    raise ValueError(f'{labels}: {len(targets)} labels in 1..10 expected for '
                                     f'the {n} images of {images}')
            data_list += [dict(img_file=images, img_index=i, gt_label=int(t))
                          for i, t in enumerate(targets)]
        return data_list

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        with open(info['img_file'], 'rb') as f:
            f.seek(info['img_index'] * IMAGE_BYTES)
            record = np.frombuffer(f.read(IMAGE_BYTES), dtype=np.uint8)
        # stored channel-major, each channel column-major: (C, W, H) -> (H, W, C), RGB -> BGR
        info['img'] = np.ascontiguousarray(record.reshape(3, 96, 96).transpose(2, 1, 0)[..., ::-1])
        info['img_shape'] = info['ori_shape'] = (96, 96)
        return info
