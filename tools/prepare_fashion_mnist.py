"""Unpack Fashion-MNIST (Debian package ``dataset-fashion-mnist``) for mmcls.

``mmcls.datasets.FashionMNIST`` reads the four uncompressed IDX files from its ``data_prefix``.

    apt-get install dataset-fashion-mnist
    python tools/prepare_fashion_mnist.py            # -> data/fashion_mnist/
"""
import argparse
import gzip
import shutil
import sys
from pathlib import Path

FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
         't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


def prepare(src, out):
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise FileNotFoundError(
            f'Fashion-MNIST source folder {src} does not exist; install it with '
            '`apt-get install dataset-fashion-mnist` or pass --src')
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        dst = out / name
        if dst.exists() and dst.stat().st_size > 0:
            continue
        gz = src / f'{name}.gz'
        if gz.exists():
            tmp = dst.with_suffix('.tmp')
            with gzip.open(gz, 'rb') as fin, open(tmp, 'wb') as fout:
                shutil.copyfileobj(fin, fout)
            tmp.replace(dst)
        elif (src / name).exists():
            shutil.copyfile(src / name, dst)
        else:
            raise FileNotFoundError(f'{gz} is missing from {src}')
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', default='/usr/share/datasets/fashion-mnist')
    parser.add_argument('--out', default='data/fashion_mnist')
    args = parser.parse_args(argv)
    try:
        out = prepare(args.src, args.out)
    except FileNotFoundError as e:
        sys.exit(f'error: {e}')
    print(f'Fashion-MNIST ready in {out}')


if __name__ == '__main__':
    main()
