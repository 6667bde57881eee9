"""How the Fashion-MNIST quality recipe was found: DSPNet (configs/dspnet_r18_fmnist.py) under
variants of the schedule, batch, learning rate, stage strides, EMA momentum and views, each
trained to the end of its own (short) schedule and every DN evaluated on frozen features
(weighted k-NN, k=20, and the converged L-BFGS probe) next to raw pixels on the same images.

    python tools/benchmarks/fmnist_recipe_sweep.py --variants s2_b256,s1_b64   # ~10 min each
    python tools/benchmarks/fmnist_recipe_sweep.py --quick                     # smoke run

Resumable: a variant whose result is already in --out is skipped (``--force`` reruns it);
each finished variant is written at once. The variants are the VARIANTS table below.
"""
import argparse
import json
import os
import sys

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import REPO, machine, resolve_device, train
from dspnet_mm.apis.report import write_json
from dspnet_mm.apis.subnet_evaluation import EvalSettings, evaluate_subnets, prepare_evaluation

CFG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')


def schedule(iters: int, batch: int, lr: float = 2e-3, warmup: int = None):
    """cfg-options of a linear warm-up + cosine schedule of ``iters`` x ``batch`` images."""
    warmup = warmup or max(10, iters // 16)
    return [f'train_cfg.max_iters={iters}', f'train_dataloader.batch_size={batch}',
            f'optim_wrapper.optimizer.lr={lr}', f'param_scheduler.0.end={warmup}',
            f'param_scheduler.1.begin={warmup}', f'param_scheduler.1.T_max={iters - warmup}',
            f'param_scheduler.1.end={iters}', f'default_hooks.checkpoint.interval={iters}']


S2 = ['model.backbone.strides=(2,2,2,2)']  # stages at 14/7/4/2 px instead of 28/14/7/4
# the dataset's own pipeline: the config's ``train_pipeline`` variable was copied into it when
# the file was read, so options on ``train_pipeline.*`` would change nothing that runs
VIEWS = 'train_dataloader.dataset.pipeline.0.transforms'
NO_BLUR = [  # no blur and no solarisation
    f'{VIEWS}.0.3.prob=0.0', f'{VIEWS}.1.3.prob=0.0', f'{VIEWS}.1.4.prob=0.0']
CROP_05 = [f'{VIEWS}.{v}.0.scale=(0.5,1.0)' for v in (0, 1)]  # milder crops than (0.3, 1)

# each about 8-10 minutes of training on 2 idle cores
VARIANTS = {
    's1_b64': schedule(650, 64),                         # the demo config, shortened
    's2_b128': S2 + schedule(700, 128),
    's2_b256': S2 + schedule(360, 256, lr=4e-3),
    's2_b128_m0.98': S2 + schedule(700, 128) + ['model.base_momentum=0.98'],
    's2_b128_lr4e-3': S2 + schedule(700, 128, lr=4e-3),
    's2_b128_noblur': S2 + schedule(700, 128) + NO_BLUR,
    's1_b64_lr4e-3': schedule(650, 64, lr=4e-3),
    's1_b32': schedule(1100, 32, lr=1e-3),
    's1_b64_w24': schedule(450, 64) + ['model.backbone.stem_channels=24',
                                       'model.backbone.base_channels=24',
                                       'model.neck.in_channels=192'],
    's1_b64_m0.98': schedule(650, 64) + ['model.base_momentum=0.98'],
    's1_b64_w32': schedule(320, 64) + ['model.backbone.stem_channels=32',
                                       'model.backbone.base_channels=32',
                                       'model.neck.in_channels=256'],
    's1_b64_m0.98_lr4e-3': schedule(650, 64, lr=4e-3) + ['model.base_momentum=0.98'],
    's1_b64_crop0.5': schedule(650, 64) + CROP_05,
    's1_b64_noblur': schedule(650, 64) + NO_BLUR,
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--variants', default=','.join(VARIANTS))
    p.add_argument('--force', action='store_true', help='rerun variants already in --out')
    p.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs', 'fmnist_sweep'))
    p.add_argument('--data', default=os.path.join(REPO, 'data', 'fashion_mnist'))
    p.add_argument('--out', default=os.path.join(REPO, 'docs', 'results',
                                                 'fmnist_recipe_sweep.json'))
    p.add_argument('--train-subset', type=int, default=20000,
                   help='k-NN bank / probe training images')
    p.add_argument('--device', default='cpu', help="where the runs train: 'cpu' or 'cuda'")
    p.add_argument('--test-subset', type=int, default=5000, help='query images')
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    names = args.variants.split(',')
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise cli.UsageError(f'unknown variants {unknown}; choose from {list(VARIANTS)}')
    if not os.path.isdir(args.data):
        raise cli.UsageError(f'--data {args.data!r} does not exist; run '
                             'tools/prepare_fashion_mnist.py first')
    data = [f'train_dataloader.dataset.data_prefix={args.data}']
    extra, settings = [], EvalSettings(train_subset=args.train_subset,
                                       test_subset=args.test_subset)
    if args.quick:
        names = names[:2]
        settings.train_subset, settings.test_subset = 500, 200
        extra = ['train_cfg.max_iters=2', 'train_dataloader.num_workers=0',
                 'train_dataloader.persistent_workers=False',
                 'train_dataloader.dataset.indices=256']
    report = dict(benchmark='fmnist_recipe_sweep', quick=args.quick, config=CFG,
                  train_images=settings.train_subset, test_images=settings.test_subset,
                  machine=machine(device), variants={})
    if os.path.isfile(args.out) and not args.quick:
        with open(args.out) as f:
            report['variants'] = json.load(f).get('variants', {})
    for name in names:
        if name in report['variants'] and not args.force:
            print(f'{name}: already measured, skipped')
            continue
        work = os.path.join(args.work_dir, name)
        options = [o for o in VARIANTS[name] + data + extra
                   if not (args.quick and o.startswith('train_cfg.max_iters=') and
                           o != 'train_cfg.max_iters=2')]
        seconds, ckpt = train(CFG, work, options, device=device)
        ev = prepare_evaluation(ckpt, os.path.join(work, os.path.basename(CFG)),
                                settings=settings,
                                cfg_options={'train_dataloader.dataset.data_prefix': args.data})
        rows = evaluate_subnets(ev)
        floor = next(r for r in rows if r['method'] == 'floor')
        report['variants'][name] = dict(
            options=VARIANTS[name], train_seconds=round(seconds, 1),
            knn={r['name']: round(r['knn_top1'], 2) for r in rows},
            linear={r['name']: round(r['linear_top1'], 2) for r in rows},
            min_margin_knn=round(min(r['knn_top1'] - floor['knn_top1'] for r in rows
                                     if r['method'] == 'DSPNet'), 2),
            min_margin_linear=round(min(r['linear_top1'] - floor['linear_top1'] for r in rows
                                        if r['method'] == 'DSPNet'), 2))
        print(name, report['variants'][name])
        if not args.quick:
            write_json(args.out, report)
    return report


if __name__ == '__main__':
    sys.exit(cli.script(main))
