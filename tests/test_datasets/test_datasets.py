"""Datasets read the official file formats: CIFAR pickles, STL-10 binaries."""
import os
import pickle

import numpy as np
import pytest
from mmcls.datasets import CIFAR10, CIFAR100

from dspnet_mm.datasets import STL10, LocalCIFAR10, LocalCIFAR100
from dspnet_mm.testing import make_cifar, make_fashion_mnist, make_stl10


@pytest.mark.parametrize('ours,theirs,classes', [(LocalCIFAR10, CIFAR10, 10),
                                                 (LocalCIFAR100, CIFAR100, 100)])
def test_cifar_equals_mmcls_in_bgr(tmp_path, monkeypatch, ours, theirs, classes):
    make_cifar(str(tmp_path), classes, images_per_batch=3)
    mine = ours(data_prefix=str(tmp_path), test_mode=False)
    # mmcls itself, with its md5 check (which generated files cannot pass) switched off
    monkeypatch.setattr(theirs, '_check_integrity', lambda self: True)
    ref = theirs(data_prefix=str(tmp_path), test_mode=False, download=False)
    assert len(mine) == len(ref) == (15 if classes == 10 else 3)
    for i in range(len(ref)):
        a, b = mine.get_data_info(i), ref.get_data_info(i)
        np.testing.assert_array_equal(a['img'], b['img'][..., ::-1])  # BGR
        assert a['gt_label'] == b['gt_label']
    assert len(ours(data_prefix=str(tmp_path), test_mode=True)) == 3


def test_cifar_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"lacks \['data_batch_1'.*cifar-10-python"):
        LocalCIFAR10(data_prefix=str(tmp_path / 'nowhere'))
    make_cifar(str(tmp_path))
    batch = tmp_path / 'cifar-10-batches-py' / 'data_batch_3'
    batch.write_bytes(batch.read_bytes()[:500])  # truncated download
    with pytest.raises(ValueError, match='data_batch_3 is not a CIFAR batch'):
        LocalCIFAR10(data_prefix=str(tmp_path))


def test_cifar_pickle_cannot_run_code(tmp_path):
    make_cifar(str(tmp_path))
    flag = tmp_path / 'pwned'

    class Evil:
        def __reduce__(self):
            return os.system, (f'touch {flag}', )

    with open(tmp_path / 'cifar-10-batches-py' / 'data_batch_1', 'wb') as f:
        pickle.dump({'data': Evil(), 'labels': []}, f, protocol=2)
    with pytest.raises(ValueError, match='posix.system is not allowed'):
        LocalCIFAR10(data_prefix=str(tmp_path))
    assert not flag.exists()


def test_stl10_matches_torchvision_decoding(tmp_path):
    make_stl10(str(tmp_path), num_train=3, num_unlabeled=5, num_test=2)
    folder = tmp_path / 'stl10_binary'

    def reference(split):  # torchvision.datasets.STL10's decoding: (N, 3, 96, 96) RGB
        x = np.fromfile(folder / f'{split}_X.bin', dtype=np.uint8).reshape(-1, 3, 96, 96)
        return np.transpose(x, (0, 1, 3, 2))

    ds = STL10(data_root=str(tmp_path), split='train+unlabeled')
    assert len(ds) == 8
    images = np.concatenate([reference('train'), reference('unlabeled')])
    labels = np.fromfile(folder / 'train_y.bin', dtype=np.uint8).astype(int) - 1
    for i in range(8):
        info = ds.get_data_info(i)
        np.testing.assert_array_equal(info['img'], images[i].transpose(1, 2, 0)[..., ::-1])
        assert info['gt_label'] == (labels[i] if i < 3 else -1)
    assert len(STL10(data_root=str(tmp_path), split='test')) == 2


def test_stl10_errors(tmp_path):
    with pytest.raises(ValueError, match=r"split 'train\+extra': \['extra'\] unknown"):
        STL10(data_root=str(tmp_path), split='train+extra')
    with pytest.raises(FileNotFoundError, match=r"lacks \['unlabeled_X.bin'\]"):
        STL10(data_root=str(tmp_path), split='unlabeled')
    make_stl10(str(tmp_path))
    x = tmp_path / 'stl10_binary' / 'unlabeled_X.bin'
    x.write_bytes(x.read_bytes()[:-100])
    with pytest.raises(ValueError, match='not a whole number of 96x96x3 images'):
        STL10(data_root=str(tmp_path), split='unlabeled')


def _gz_source(root, num_images):
    import gzip
    raw = make_fashion_mnist(str(root / 'raw'), num_images)
    src = root / 'src'
    src.mkdir()
    for name in os.listdir(raw):
        with open(os.path.join(raw, name), 'rb') as f, gzip.open(src / f'{name}.gz', 'wb') as g:
            g.write(f.read())
    return str(src)


def test_prepare_fashion_mnist_detects_and_repairs_damaged_files(tmp_path):
    from dspnet_mm.datasets.fashion_mnist import IDX_FILES, prepare_fashion_mnist
    small = {name: (dims, 6) for name, (dims, _) in IDX_FILES.items()}
    src, out = _gz_source(tmp_path, 6), str(tmp_path / 'out')
    _, done = prepare_fashion_mnist(src, out, small)
    assert done == {name: 'extracted' for name in IDX_FILES}
    assert prepare_fashion_mnist(src, out, small)[1] == {}  # complete files are kept
    images = os.path.join(out, 'train-images-idx3-ubyte')
    good = open(images, 'rb').read()
    with open(images, 'wb') as f:  # an interrupted copy
        f.write(good[:-100])
    _, done = prepare_fashion_mnist(src, out, small)
    assert done == {'train-images-idx3-ubyte': 're-extracted: the existing file has '
                    f'{len(good) - 100} bytes, expected {len(good)} (truncated or padded)'}
    assert open(images, 'rb').read() == good
    # the official counts: six images are not Fashion-MNIST's 60000
    with pytest.raises(ValueError, match=r'holds shape \(6, 28, 28\), expected \(60000, 28, 28\)'):
        prepare_fashion_mnist(src, str(tmp_path / 'official'))
    # a damaged source is named, and no partial file is left behind
    gz = os.path.join(src, 't10k-labels-idx1-ubyte.gz')
    data = open(gz, 'rb').read()
    with open(gz, 'wb') as f:
        f.write(data[:len(data) // 2])
    os.remove(os.path.join(out, 't10k-labels-idx1-ubyte'))
    with pytest.raises(ValueError, match='t10k-labels-idx1-ubyte.gz is damaged'):
        prepare_fashion_mnist(src, out, small)
    assert not [n for n in os.listdir(out) if n.endswith('.partial')]


def test_fashion_mnist_dataset_names_a_truncated_file(tmp_path):
    from dspnet_mm.datasets import LocalFashionMNIST
    root = make_fashion_mnist(str(tmp_path / 'fm'), 5)
    images = os.path.join(root, 'train-images-idx3-ubyte')
    data = open(images, 'rb').read()
    with open(images, 'wb') as f:
        f.write(data[:-7])
    with pytest.raises(ValueError, match=r'train-images-idx3-ubyte has \d+ bytes, expected .* '
                       'prepare it again with'):
        LocalFashionMNIST(data_prefix=root, test_mode=False, pipeline=[])


def test_prepare_fashion_mnist_cli_errors(tmp_path, capsys):
    from conftest import load_tool
    tool = load_tool('prepare_fashion_mnist.py')
    assert tool.main(['--src', str(tmp_path / 'none'), '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'does not exist' in err and len(
        err.strip().splitlines()) == 1
