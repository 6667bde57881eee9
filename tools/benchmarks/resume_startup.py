"""Start-up cost of a resume: the Fashion-MNIST demo (configs/dspnet_r18_fmnist.py) resumed at
iteration 1200 of 1600, against a fresh start, until its first new iteration is done.

    python tools/benchmarks/resume_startup.py [--rounds 2] [--out docs/results/resume_startup.json]

Each case is one ``tools/train.py`` process that trains exactly one iteration (``max_iters``
set to the start + 1), timed from launch to exit; the cases run interleaved, ``--rounds``
times, and the median is reported:

- ``fresh``: a new run;
- ``resume``: ``--resume`` with this project's loop (the sampler starts after the 1200 finished
  batches; nothing of them is read);
- ``resume_replay``: the same checkpoint through mmengine's ``IterBasedTrainLoop``
  (``--cfg-options train_cfg.type=IterBasedTrainLoop``), which loads and augments the 1200
  finished batches (76,800 images) before its first new iteration: the old behaviour.

The checkpoint of iteration 1200 is the one of a 1-iteration run with its counters (iteration,
scheduler steps, data position) set to 1200: what a resume does before its first iteration
does not depend on the weights, and training 1200 iterations on a CPU takes most of an hour.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'dspnet_r18_fmnist.py')
AT = 1200


def train(work_dir, data, max_iters, *extra, options=()):
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', work_dir,
           *extra, '--cfg-options', f'train_dataloader.dataset.data_prefix={data}',
           f'train_cfg.max_iters={max_iters}', 'default_hooks.checkpoint.interval=1',
           'default_hooks.logger.interval=1', *options]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{out.stderr[-3000:]}')
    return seconds, out.stdout + out.stderr


def checkpoint_at(work_dir, data, at):
    """A checkpoint whose counters say iteration ``at`` (see the module docstring)."""
    import torch

    import dspnet_mm  # noqa: F401  (the checkpoint allow-list)
    from dspnet_mm.apis import load_checkpoint_safely
    from dspnet_mm.engine.runner.loops import POSITION_KEY
    train(work_dir, data, 1)
    ckpt = load_checkpoint_safely(osp.join(work_dir, 'iter_1.pth'))
    ckpt['meta']['iter'] = at
    info = ckpt['message_hub']['runtime_info']
    per_epoch = -(-info[POSITION_KEY]['dataset_size'] // 64)  # batches per data epoch
    batch = info[POSITION_KEY]['global_batch']
    info[POSITION_KEY].update(epoch=at // per_epoch, consumed=at % per_epoch * batch)
    info['iter'] = at
    for scheduler in ckpt['param_schedulers']:
        scheduler['last_step'] = at
        scheduler['_step_count'] = at + 1
    path = osp.join(work_dir, f'iter_{at}.pth')
    torch.save(ckpt, path)
    os.remove(osp.join(work_dir, 'iter_1.pth'))
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(path)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', default=osp.join(REPO, 'data', 'fashion_mnist'))
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--out', help='write the JSON here too')
    args = p.parse_args(argv)
    times = dict(fresh=[], resume=[], resume_replay=[])
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = checkpoint_at(osp.join(tmp, 'at'), args.data, AT)
        for r in range(args.rounds):
            fresh, _ = train(osp.join(tmp, f'fresh{r}'), args.data, 1)
            times['fresh'].append(fresh)
            for case, options in (('resume', ()),
                                  ('resume_replay', ('train_cfg.type=IterBasedTrainLoop', ))):
                work = osp.join(tmp, f'{case}{r}')
                os.makedirs(work)
                seconds, log = train(work, args.data, AT + 1, '--resume', ckpt, options=options)
                times[case].append(seconds)
                if case == 'resume':
                    assert 'no batch is replayed' in log, log[-2000:]
    med = {k: statistics.median(v) for k, v in times.items()}
    result = dict(
        benchmark='resume_startup', config='configs/dspnet_r18_fmnist.py',
        resumed_at=f'{AT}/1600', images_replayed_by_mmengine=AT * 64, rounds=args.rounds,
        seconds_to_first_new_iteration={k: round(v, 2) for k, v in med.items()},
        seconds_each_round={k: [round(x, 2) for x in v] for k, v in times.items()},
        overhead_over_fresh_s=dict(resume=round(med['resume'] - med['fresh'], 2),
                                   resume_replay=round(med['resume_replay'] - med['fresh'], 2)),
        machine=dict(cpus=os.cpu_count(), load_1min=os.getloadavg()[0]),
        date=time.strftime('%Y-%m-%d'))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return result


if __name__ == '__main__':
    main()
