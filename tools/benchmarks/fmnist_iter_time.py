"""How long a training iteration of the Fashion-MNIST configs takes as users run them
(``tools/train.py``, data loading included) in fp32 and in bf16 (``CPUAmpOptimWrapper``, the
CPU configs' default), interleaved in rounds so that machine drift hits both alike; and how
many iterations of bf16 fit the wall-clock budget of the fp32 quality recipe.

    python tools/benchmarks/fmnist_iter_time.py                    # ~8 minutes on 2 cores
    python tools/benchmarks/fmnist_iter_time.py --rounds 1 --iters 30 --skip 10   # smoke run

Each run trains ``--iters`` iterations from scratch; the mean iteration time is taken from
mmengine's log (``time``, the wall time of an iteration: data, forward, backward, step) after
the first ``--skip`` iterations. Writes docs/results/fmnist_iter_time.json.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import sys

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import REPO, machine, ratio_stats, train
from dspnet_mm.apis.report import write_json

CONFIGS = dict(dspnet='configs/dspnet_r18_fmnist.py', byol='configs/byol_r18_fmnist.py')
PRECISIONS = dict(fp32='float32', bf16='bfloat16')
# the fp32 quality recipe: 6800 iterations of DSPNet in 4688 s on 2 cores (seed 0,
# docs/results/fmnist_dspnet_quality.md)
FP32_RECIPE_ITERS = 6800


def iteration_seconds(work_dir: str, skip: int) -> float:
    """Mean of the logged iteration times after ``skip`` iterations (log interval 10, mmengine's
    window of 10: each logged ``time`` is the mean of the 10 iterations before it)."""
    logs = sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json')))
    times = []
    with open(logs[-1]) as f:
        for line in f:
            rec = json.loads(line)
            if 'time' in rec and rec.get('iter', 0) > skip:
                times.append(rec['time'])
    if not times:
        raise RuntimeError(f'no iteration times after iteration {skip} in {logs[-1]}')
    return statistics.mean(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--configs', default='dspnet,byol',
                        help=f'comma-separated, of {", ".join(CONFIGS)}')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--iters', type=int, default=70)
    parser.add_argument('--skip', type=int, default=20)
    parser.add_argument('--data', default=os.path.join(REPO, 'data', 'fashion_mnist'))
    parser.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs', 'iter_time'))
    parser.add_argument('--out', default=os.path.join(REPO, 'docs', 'results',
                                                      'fmnist_iter_time.json'))
    args = parser.parse_args(argv)
    names = args.configs.split(',')
    for n in names:
        if n not in CONFIGS:
            raise cli.UsageError(f'--configs: unknown {n!r}; choose from {", ".join(CONFIGS)}')
    if not args.iters > args.skip + 10:
        raise cli.UsageError(f'--iters {args.iters} must exceed --skip {args.skip} by more '
                             'than one log interval (10)')
    if not os.path.isdir(args.data):
        raise cli.UsageError(f'--data {args.data!r} does not exist: prepare it with '
                             'python tools/prepare_fashion_mnist.py')
    seconds = {n: {p: [] for p in PRECISIONS} for n in names}
    for r in range(args.rounds):
        for n in names:
            # alternate the order within a round: neither precision always runs first
            for p in (PRECISIONS if r % 2 == 0 else reversed(list(PRECISIONS))):
                work = os.path.join(args.work_dir, f'{n}_{p}')
                shutil.rmtree(work, ignore_errors=True)
                options = [f'train_dataloader.dataset.data_prefix={args.data}',
                           f'optim_wrapper.dtype={PRECISIONS[p]}',
                           'optim_wrapper.on_unsupported=error',
                           f'train_cfg.max_iters={args.iters}',
                           'default_hooks.logger.interval=10',
                           f'default_hooks.checkpoint.interval={args.iters}']
                train(os.path.join(REPO, CONFIGS[n]), work, options)
                seconds[n][p].append(iteration_seconds(work, args.skip))
                print(f'round {r} {n} {p}: {seconds[n][p][-1]:.3f} s/iter', flush=True)
    result = dict(benchmark='fmnist_iter_time', rounds=args.rounds, iters=args.iters,
                  skip=args.skip, machine=machine(), configs={})
    for n in names:
        s = seconds[n]
        speedup = ratio_stats(s['fp32'], s['bf16'])
        result['configs'][n] = dict(config=CONFIGS[n],
                                    seconds_per_iter={p: [round(t, 4) for t in v]
                                                      for p, v in s.items()},
                                    bf16_speedup=speedup)
    if 'dspnet' in seconds:
        ratio = statistics.median(seconds['dspnet']['fp32']) / statistics.median(
            seconds['dspnet']['bf16'])
        result['bf16_iters_for_fp32_recipe_budget'] = int(FP32_RECIPE_ITERS * ratio)
    write_json(args.out, result)
    print(json.dumps(result['configs'], indent=1))
    print('bf16 iterations in the fp32 recipe budget:',
          result.get('bf16_iters_for_fp32_recipe_budget'))


if __name__ == '__main__':
    sys.exit(cli.script(main))
