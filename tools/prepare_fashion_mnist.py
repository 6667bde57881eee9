"""Unpack Fashion-MNIST (Debian package ``dataset-fashion-mnist``) for mmcls.

``mmcls.datasets.FashionMNIST`` reads the four uncompressed IDX files from its ``data_prefix``.
Every file, new or already there, is checked (IDX header, image count and size, file length);
a damaged or partial one is extracted again.

    apt-get install dataset-fashion-mnist
    python tools/prepare_fashion_mnist.py            # -> data/fashion_mnist/
"""
import sys

from dspnet_mm.apis import cli
from dspnet_mm.datasets.fashion_mnist import prepare_fashion_mnist


def main(argv=None):
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--src', default='/usr/share/datasets/fashion-mnist')
    parser.add_argument('--out', default='data/fashion_mnist')
    args = parser.parse_args(argv)

    def work(args):
        out, redone = prepare_fashion_mnist(args.src, args.out)
        for name, why in redone.items():
            print(f'{name}: {why}')
        print(f'Fashion-MNIST ready in {out} (4 files checked)')

    return cli.run(work, args)


if __name__ == '__main__':
    sys.exit(main())
