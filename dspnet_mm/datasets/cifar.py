"""CIFAR-10/100 from the python-pickle release in a local folder: no downloads, safe unpickling,
a structural integrity check, images in OpenMMLab's BGR order."""
import os.path as osp
import pickle

import numpy as np
from mmcls.datasets import CIFAR10, CIFAR100

from dspnet_mm.registry import DATASETS


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch (a dict of numpy arrays, lists, bytes) and nothing that can run
    code: a downloaded file is data, never a program."""
    ALLOWED = {('numpy.core.multiarray', '_reconstruct'),
               ('numpy._core.multiarray', '_reconstruct'), ('numpy', 'ndarray'),
               ('numpy', 'dtype'), ('numpy.core.numeric', '_frombuffer'),
               ('numpy._core.numeric', '_frombuffer'),
               ('_codecs', 'encode')}  # how Python 3 writes bytes at pickle protocol 2

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f'{module}.{name} is not allowed in a CIFAR batch')
        return super().find_class(module, name)


def read_cifar_batch(path: str, label_key: str):
    """(images (N, 32, 32, 3) uint8 BGR, labels (N,) int64) of one pickled CIFAR batch.
    Raises ValueError naming the file when it is truncated or not a CIFAR batch."""
    try:
        with open(path, 'rb') as f:
            entry = _BatchUnpickler(f, encoding='latin1').load()
        data, labels = np.asarray(entry['data']), np.asarray(entry[label_key])
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f'{path} is not a CIFAR batch with data and {label_key!r} '
                         f'(truncated download?): {e}') from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 \
            or labels.shape != (len(data), ):
        raise ValueError(f'{path} is not a CIFAR batch: data {data.dtype} {data.shape} '
                         f'(expected uint8 (N, 3072)), labels {labels.shape}')
    # rows are R, G, B planes of 32x32; OpenMMLab pipelines expect HWC BGR (as image files)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)[..., ::-1]
    return np.ascontiguousarray(images), labels.astype(np.int64)


class _LocalCIFAR:
    label_key = 'labels'

    def __init__(self, data_prefix: str, test_mode: bool = False, **kwargs):
        kwargs['download'] = False
        super().__init__(data_prefix=data_prefix, test_mode=test_mode, **kwargs)

    def load_data_list(self):
        folder = osp.join(self.data_prefix['root'], self.base_folder)
        files = [osp.join(folder, name)
                 for name, _ in (self.test_list if self.test_mode else self.train_list)]
        missing = [osp.basename(f) for f in files if not osp.isfile(f)]
        if missing:
            raise FileNotFoundError(
                f'{type(self).__name__}: folder {folder!r} lacks {missing}; unpack '
                f'{self.filename} ({self.url}) into {self.data_prefix["root"]!r}')
        batches = [read_cifar_batch(f, self.label_key) for f in files]
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        if labels.min() < 0 or labels.max() >= len(self.CLASSES):
            raise ValueError(f'{folder}: labels {labels.min()}..{labels.max()} outside '
                             f'0..{len(self.CLASSES) - 1}')
        return [dict(img=img, gt_label=int(label)) for img, label in zip(images, labels)]


@DATASETS.register_module()
class LocalCIFAR10(_LocalCIFAR, CIFAR10):
    """``mmcls.CIFAR10`` reading ``data_prefix/cifar-10-batches-py/`` (the unpacked
    ``cifar-10-python.tar.gz``) without ever downloading.

    Differences from mmcls: batches are unpickled with an allow-list (numpy arrays only);
    integrity is checked by structure (uint8 (N, 3072) data, N labels in range) rather than
    md5, so a truncated file is named, a re-packed one is usable; images are BGR like every
    image file an OpenMMLab pipeline loads, so ``ColorJitter``'s hue and ``RandomGrayscale``'s
    channel weights mean what they say (configs set ``bgr_to_rgb=True``)."""


@DATASETS.register_module()
class LocalCIFAR100(_LocalCIFAR, CIFAR100):
    """``LocalCIFAR10`` for ``data_prefix/cifar-100-python/`` (fine labels, 100 classes)."""
    label_key = 'fine_labels'
