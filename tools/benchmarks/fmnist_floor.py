"""The floor of every Fashion-MNIST result: raw pixels under the evaluation protocol of
tools/eval_subnets.py (weighted k-NN, k=20, T=0.07; the earlier 100-epoch SGD linear probe and
the converged L-BFGS probe), whole 60k train split as bank / probe training set, whole 10k test
split. A pretrained network that does not beat these numbers has learnt nothing usable.

    python tools/benchmarks/fmnist_floor.py      # about 3 minutes on 2 cores
                                                 # -> docs/results/fmnist_floor.json

    --quick: 2000 train / 500 test images (a smoke run for the test suite).
"""
import argparse
import json
import os
import sys
import time

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import REPO

from dspnet_mm.apis.evaluation import (ImageSet, knn_top1, linear_probe, linear_probe_top1,
                                       raw_pixels)
from mmengine.config import Config

CONFIG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--data', default=os.path.join(REPO, 'data', 'fashion_mnist'))
    p.add_argument('--out', help='JSON file to write (default: print only)')
    args = p.parse_args(argv)
    cfg = Config.fromfile(CONFIG)
    cfg.train_dataloader.dataset.data_prefix = args.data
    start = time.perf_counter()
    train = ImageSet(cfg, False, 2000 if args.quick else None)
    test = ImageSet(cfg, True, 500 if args.quick else None)
    xtr, ytr = raw_pixels(train.batches(1024))
    xte, yte = raw_pixels(test.batches(1024))
    probe = linear_probe(xtr, ytr, xte, yte)
    report = dict(
        benchmark='fmnist_floor', quick=args.quick, train_images=len(xtr), test_images=len(xte),
        features='raw pixels, normalised as the configs do, flattened (784)',
        knn_top1=round(knn_top1(xtr, ytr, xte, yte, k=20), 2),
        linear_sgd100_top1=round(linear_probe_top1(xtr, ytr, xte, yte, epochs=100), 2),
        linear_lbfgs_top1=round(probe['top1'], 2),
        linear_lbfgs_train_top1=round(probe['train_top1'], 2), linear_lbfgs_l2=probe['l2'],
        seconds=round(time.perf_counter() - start, 1),
        command='python tools/benchmarks/fmnist_floor.py --out docs/results/fmnist_floor.json')
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return report


if __name__ == '__main__':
    sys.exit(cli.script(main))
