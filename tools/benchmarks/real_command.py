"""The command users run, timed: ``tools/train.py configs/dspnet_r50.py --amp`` and then
``tools/dist_train.sh configs/dspnet_r50.py 1`` (torchrun, one process, DDP and SyncBN), each
for ``--iters`` iterations of one epoch over a generated ImageNet-layout folder of RGB JPEGs
(``dspnet_mm.testing.make_image_folder``, 375x500 like ImageNet's typical image). The config's
pipeline, model and optimizer run unchanged; only the data root, the batch size and the length
are overridden. Images/s is the batch over the median iteration time after ``--skip``
iterations, and peak memory the most mmengine's logger saw (``memory``, MB, on CUDA), both
read from the run's ``vis_data/scalars.json``.

    python tools/benchmarks/real_command.py > OUT/real_command_cuda.json   # on a GPU
    python tools/benchmarks/real_command.py --quick    # the plumbing on a CPU, in a minute

``--quick`` trains 2 iterations of 2 images of 64x64 and, as no GPU is there, runs the
distributed command on gloo with plain BN (SyncBN needs CUDA).
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import REPO, machine
from dspnet_mm.testing import IMAGENET_SIZE, make_image_folder


def read_scalars(work_dir: str):
    """The per-iteration records of mmengine's scalars.json under ``work_dir``."""
    paths = glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))
    if len(paths) != 1:
        return []
    with open(paths[0]) as f:
        return [r for r in map(json.loads, f) if 'loss' in r and 'time' in r]


def summarize(records, batch: int, skip: int, iters: int) -> dict:
    """Images/s and peak memory from the log records of one run."""
    times = [r['time'] for r in records][skip:]
    memory = [r['memory'] for r in records if 'memory' in r]
    out = dict(iterations=len(records), complete=len(records) == iters)
    if times:
        out.update(median_s_per_iter=round(statistics.median(times), 4),
                   images_per_s=round(batch / statistics.median(times), 2))
    out['peak_memory_mb'] = max(memory) if memory else None
    return out


def run(argv, work_dir: str, batch: int, skip: int, iters: int, timeout: int) -> dict:
    start = time.perf_counter()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                           env=dict(os.environ, PYTHON=sys.executable))  # dist_train.sh's
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = 'timeout', (e.stderr or b'').decode(errors='replace')
    out = dict(command=' '.join(os.path.relpath(a, REPO) if a.startswith(REPO) else a
                                for a in argv),
               returncode=rc, wall_s=round(time.perf_counter() - start, 1))
    out.update(summarize(read_scalars(work_dir), batch, skip, iters))
    if rc != 0:
        out['stderr_tail'] = err[-3000:]
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=os.path.join(REPO, 'configs', 'dspnet_r50.py'))
    p.add_argument('--batch', type=int, default=64, help='images per iteration (one GPU)')
    p.add_argument('--iters', type=int, default=30)
    p.add_argument('--skip', type=int, default=5, help='first iterations not timed')
    p.add_argument('--timeout', type=int, default=300, help='seconds per command')
    p.add_argument('--no-amp', action='store_true', help='fp32 (default: --amp, bf16)')
    p.add_argument('--work-dir', help='default: a temporary folder, removed')
    p.add_argument('--quick', action='store_true', help=__doc__.split('``--quick`` ')[1])
    args = p.parse_args(argv)
    for name in ('batch', 'iters', 'timeout'):
        cli.positive(f'--{name}', getattr(args, name), allow_none=False)
    if not 0 <= args.skip < args.iters:
        raise cli.UsageError(f'--skip {args.skip}: must be in [0, --iters {args.iters})')
    cli.existing_file('--config', args.config)
    size = IMAGENET_SIZE
    if args.quick:
        args.batch, args.iters, args.skip, size = 2, 2, 0, (64, 64)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work_dir or tmp
        data = make_image_folder(os.path.join(root, 'data'), args.batch * args.iters, size)
        options = [f'train_dataloader.dataset.data_root={data}',
                   f'train_dataloader.batch_size={args.batch}', 'train_cfg.max_epochs=1',
                   'default_hooks.logger.interval=1']
        if args.quick:
            options += ['train_dataloader.num_workers=0',
                        'train_dataloader.persistent_workers=False']
        amp = [] if args.no_amp else ['--amp']
        dist_options = [] if torch.cuda.is_available() else [
            'env_cfg.dist_cfg.backend=gloo', 'model.backbone.norm_cfg.type=BN']
        runs = {}
        single = os.path.join(root, 'single')
        runs['train'] = run([sys.executable, os.path.join(REPO, 'tools', 'train.py'),
                             args.config, '--work-dir', single, *amp, '--cfg-options',
                             *options], single, args.batch, args.skip, args.iters,
                            args.timeout)
        dist = os.path.join(root, 'dist')
        runs['dist_train_1'] = run(['bash', os.path.join(REPO, 'tools', 'dist_train.sh'),
                                    args.config, '1', '--work-dir', dist, *amp,
                                    '--cfg-options', *options, *dist_options], dist,
                                   args.batch, args.skip, args.iters, args.timeout)
    return dict(benchmark='real_command', quick=args.quick,
                config=os.path.relpath(args.config, REPO), batch=args.batch,
                iters=args.iters, skip=args.skip, image_size=list(size),
                amp=not args.no_amp, machine=machine(torch.device(
                    'cuda' if torch.cuda.is_available() else 'cpu')), runs=runs,
                ok=all(r['returncode'] == 0 and r['complete'] for r in runs.values()))


if __name__ == '__main__':
    sys.exit(cli.script(lambda argv: print(json.dumps(main(argv), indent=1))))
