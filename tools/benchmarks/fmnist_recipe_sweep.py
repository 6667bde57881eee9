"""How the Fashion-MNIST CPU recipe was chosen: plain BYOL on the widest DN (r18_w1) under a few
variants of the schedule, each evaluated by k-NN (k=20) on frozen features, next to the same
network with random weights and k-NN on raw pixels.

    python tools/benchmarks/fmnist_recipe_sweep.py            # about 25 min on 2 cores
    python tools/benchmarks/fmnist_recipe_sweep.py --quick

Variants (``configs/byol_r18_fmnist.py`` otherwise): ``800x128`` the first recipe, ``1600x64``
the current one (twice the updates, the same images), ``800x128_lr5e-3`` and ``800x128_m0.96``
(EMA momentum). Prints one JSON object.
"""
import argparse
import json
import os
import sys

import torch
from mmengine.config import Config

from dspnet_mm.apis import build_backbone, cli
from dspnet_mm.apis.benchmark import REPO, train
from dspnet_mm.apis.evaluation import ImageSet, extract_features, knn_top1
from dspnet_mm.apis.subnet_evaluation import load_baseline

CFG = os.path.join(REPO, 'configs', 'byol_r18_fmnist.py')


def schedule(iters, batch):
    warmup = 100 if iters >= 1600 else 50
    return [f'train_cfg.max_iters={iters}', f'train_dataloader.batch_size={batch}',
            f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
            f'param_scheduler.1.T_max={iters - warmup}', f'param_scheduler.1.end={iters}',
            f'default_hooks.checkpoint.interval={iters}']


VARIANTS = {
    '800x128': schedule(800, 128),
    '1600x64': schedule(1600, 64),
    '800x128_lr5e-3': schedule(800, 128) + ['optim_wrapper.optimizer.lr=0.005'],
    '800x128_m0.96': schedule(800, 128) + ['model.base_momentum=0.96'],
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--variants', default=','.join(VARIANTS))
    p.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs', 'fmnist_sweep'))
    p.add_argument('--train-subset', type=int, default=20000, help='k-NN bank images')
    p.add_argument('--test-subset', type=int, default=5000, help='k-NN query images')
    args = p.parse_args(argv)
    names = args.variants.split(',')
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f'unknown variants {unknown}; choose from {list(VARIANTS)}')
    cfg = Config.fromfile(CFG)
    extra = []
    if args.quick:
        names, args.train_subset, args.test_subset = names[:2], 500, 200
        extra = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                 'train_dataloader.dataset.indices=256']
    bank = ImageSet(cfg, False, args.train_subset)
    queries = ImageSet(cfg, True, args.test_subset)

    def knn(net):
        return knn_top1(*extract_features(net, bank.batches(256)),
                        *extract_features(net, queries.batches(256)))

    xb, yb = bank.tensors()
    xq, yq = queries.tensors()
    torch.manual_seed(0)
    random_net = build_backbone(cfg.model.backbone)
    random_net.init_weights()
    random_net.eval()
    result = dict(benchmark='fmnist_recipe_sweep', quick=args.quick, network='r18_w1',
                  train_images=len(bank), test_images=len(queries),
                  knn_raw_pixels=knn_top1(xb.flatten(1), yb, xq.flatten(1), yq),
                  knn_random_weights=knn(random_net), variants={})
    for name in names:
        options = VARIANTS[name] + extra
        if args.quick:  # a few steps of each variant's batch size
            options = [o for o in options if not o.startswith('train_cfg.max_iters')]
            options += ['train_cfg.max_iters=2']
        seconds, ckpt = train(CFG, os.path.join(args.work_dir, name), options)
        net, _ = load_baseline(ckpt)
        result['variants'][name] = dict(knn=knn(net), train_seconds=round(seconds, 1),
                                        options=VARIANTS[name])
    return result


if __name__ == '__main__':
    sys.exit(cli.script(lambda argv: print(json.dumps(main(argv), indent=1))))
