"""Fashion-MNIST from a local folder (no downloads), with a clear error when it is missing."""
import gzip
import os
import shutil
import struct
from typing import Dict, Optional, Tuple

import numpy as np
from mmcls.datasets import FashionMNIST

from dspnet_mm.registry import DATASETS

PREPARE = ('apt-get install dataset-fashion-mnist && '
           'python tools/prepare_fashion_mnist.py --out {root}')


@DATASETS.register_module()
class LocalFashionMNIST(FashionMNIST):
    """``mmcls.FashionMNIST`` that never downloads: it reads the four uncompressed IDX files
    from ``data_prefix`` (``tools/prepare_fashion_mnist.py`` puts them there) and names the
    preparation command when they are missing. ``indices=N`` keeps the first N images."""

    def __init__(self, data_prefix: str, **kwargs):
        kwargs['download'] = False
        super().__init__(data_prefix=data_prefix, **kwargs)

    def load_data_list(self):
        root = self.data_prefix['root']
        missing = [f[0][:-3] for f in self.train_list + self.test_list
                   if not os.path.isfile(os.path.join(root, f[0][:-3]))]
        if missing:
            raise FileNotFoundError(
                f'Fashion-MNIST folder {root!r} lacks {missing}; prepare it with: '
                + PREPARE.format(root=root))
        for name, (dims, _) in IDX_FILES.items():  # a damaged file, named, not a reshape error
            problem = idx_problem(os.path.join(root, name), dims)
            if problem:
                raise ValueError(f'{os.path.join(root, name)} {problem}; prepare it again '
                                 'with: ' + PREPARE.format(root=root))
        return super().load_data_list()


# the four IDX files: (dimensions after the count, number of items)
IDX_FILES = {
    'train-images-idx3-ubyte': ((28, 28), 60000),
    'train-labels-idx1-ubyte': ((), 60000),
    't10k-images-idx3-ubyte': ((28, 28), 10000),
    't10k-labels-idx1-ubyte': ((), 10000),
}


def idx_problem(path, dims, count=None) -> Optional[str]:
    """Why the uint8 IDX file at ``path`` is not the expected one (``None`` when it is):
    magic ``0x0000 08 <ndim>``, big-endian sizes ``count, *dims`` (any count when ``None``),
    then exactly that many bytes."""
    ndim = 1 + len(dims)
    header = 4 + 4 * ndim
    if not os.path.isfile(path):
        return 'missing'
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(header)
    if len(head) < header or head[:3] != b'\x00\x00\x08' or head[3] != ndim:
        return f'not a uint8 IDX file with {ndim} dimensions (bad header)'
    shape = struct.unpack(f'>{ndim}I', head[4:])
    if shape != (shape[0] if count is None else count, *dims):
        return f'holds shape {shape}, expected {("N" if count is None else count, *dims)}'
    expected = header + shape[0] * int(np.prod(dims, dtype=np.int64))
    if size != expected:
        return f'has {size} bytes, expected {expected} (truncated or padded)'
    return None


def prepare_fashion_mnist(src, out, expected: Optional[Dict[str, tuple]] = None
                          ) -> Tuple[str, Dict[str, str]]:
    """Unpack the four ``*.gz`` files of ``src`` (or copy uncompressed ones) into ``out``,
    keeping files that are already complete. Returns ``(out, {file: what was done})``;
    raises ``FileNotFoundError``/``ValueError`` naming the file when the source itself is
    missing or damaged. ``expected``: ``{file: (dims, count)}``, :data:`IDX_FILES` (the
    official files) by default."""
    if not os.path.isdir(src):
        raise FileNotFoundError(
            f'Fashion-MNIST source folder {src!r} does not exist; install it with '
            '`apt-get install dataset-fashion-mnist` or pass --src')
    os.makedirs(out, exist_ok=True)
    done = {}
    for name, (dims, count) in (expected or IDX_FILES).items():
        dst = os.path.join(out, name)
        problem = idx_problem(dst, dims, count)
        if problem is None:
            continue
        gz, raw = os.path.join(src, f'{name}.gz'), os.path.join(src, name)
        tmp = f'{dst}.partial'
        try:
            if os.path.isfile(gz):
                try:
                    with gzip.open(gz, 'rb') as fin, open(tmp, 'wb') as fout:
                        shutil.copyfileobj(fin, fout)
                except (OSError, EOFError) as e:
                    raise ValueError(f'{gz} is damaged ({e}); reinstall '
                                     'dataset-fashion-mnist') from None
            elif os.path.isfile(raw):
                shutil.copyfile(raw, tmp)
            else:
                raise FileNotFoundError(f'{gz} is missing from {src}')
            bad = idx_problem(tmp, dims, count)
            if bad:
                raise ValueError(f'the source of {name} in {src} {bad}; reinstall '
                                 'dataset-fashion-mnist')
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        done[name] = ('extracted' if problem == 'missing' else
                      f're-extracted: the existing file {problem}')
    return out, done
