"""Fashion-MNIST from a local folder (no downloads), with a clear error when it is missing."""
import os

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
        return super().load_data_list()
