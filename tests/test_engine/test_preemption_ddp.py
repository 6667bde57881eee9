"""Two processes (gloo, CPU) train a paper-scale config (VICReg-Dual-Gating, ImageNet-100
layout) on generated RGB JPEGs with the config's own pipeline, lengths and sizes shrunk by
--cfg-options only. SIGTERM reaches every process of both ranks mid-epoch (as slurm signals a
job); the run finishes the iteration, saves, exits 75, and --resume continues. Losses at every
iteration equal (==) and final weights are torch.equal to an uninterrupted run, with
num_workers 0 and 2 (one reference, run with 2 workers: the worker count changes nothing)."""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.apis import load_checkpoint_safely
from dspnet_mm.engine.hooks import EXIT_PREEMPTED
from dspnet_mm.testing import make_image_folder

CONFIG = os.path.join(REPO, 'configs', 'vicreg-dual-gating_r18_in100.py')
# 24 images, 2 per process and iteration: 6 iterations per epoch, 2 epochs
SHRINK = ['train_dataloader.batch_size=2', 'train_cfg.max_epochs=2',
          'train_dataloader.dataset.pipeline.1.transforms.0.0.size=32',
          'train_dataloader.dataset.pipeline.1.transforms.1.0.size=32',
          'model.neck.hid_channels=64', 'model.neck.out_channels=64',
          'default_hooks.logger.interval=1', 'default_hooks.checkpoint.iter_interval=4',
          'randomness.seed=5']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_ranks(data, work_dir, workers, *extra):
    port = free_port()
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                   MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), OMP_NUM_THREADS='1')
        cmd = [sys.executable, os.path.join(REPO, 'tools', 'train.py'), CONFIG, '--launcher',
               'pytorch', '--work-dir', str(work_dir), *extra, '--cfg-options', *SHRINK,
               f'train_dataloader.dataset.data_root={data}',
               f'train_dataloader.num_workers={workers}',
               f'train_dataloader.persistent_workers={workers > 0}']
        log = open(work_dir.parent / f'{work_dir.name}_rank{rank}_{len(extra)}.log', 'w')
        # a session of its own: the SIGTERM goes to the rank and its DataLoader workers
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                      env=env, start_new_session=True))
    return procs


def wait(procs, work_dir, timeout=600):
    codes = [p.wait(timeout=timeout) for p in procs]
    logs = ''.join(open(p).read()[-3000:] for p in
                   sorted(glob.glob(f'{work_dir}_rank*.log')))
    return codes, logs


def losses(work_dir):
    out = {}
    for path in sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec:
                    out[rec['iter']] = {k: v for k, v in rec.items() if k.startswith('loss')}
    return out


def final_weights(work_dir):
    return load_checkpoint_safely(os.path.join(work_dir, 'epoch_2.pth'))['state_dict']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('in100')
    return make_image_folder(str(root), 24, size=(48, 64), num_classes=4)


@pytest.fixture(scope='module')
def reference(data, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ref') / 'work'
    codes, logs = wait(start_ranks(data, work_dir, 2), work_dir)
    assert codes == [0, 0], logs
    return losses(work_dir), final_weights(work_dir)


@pytest.mark.parametrize('workers', [0, 2])
def test_sigterm_mid_epoch_then_resume_equals_uninterrupted(data, reference, tmp_path,
                                                            workers):
    ref_losses, ref_weights = reference
    assert sorted(ref_losses) == list(range(1, 13))
    work_dir = tmp_path / 'work'
    procs = start_ranks(data, work_dir, workers)
    deadline = time.time() + 600
    while max(losses(work_dir) or [0]) < 7:  # in the second epoch (iterations 7-12)
        assert all(p.poll() is None for p in procs) and time.time() < deadline, \
            wait(procs, work_dir)[1]
        time.sleep(0.05)
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    codes, logs = wait(procs, work_dir)
    assert codes == [EXIT_PREEMPTED] * 2, logs
    stopped = max(losses(work_dir))
    assert 7 <= stopped < 12, stopped
    assert 'SIGTERM received' in logs and f'stopped after iteration {stopped}' in logs
    last = open(work_dir / 'last_checkpoint').read().strip()
    assert last.endswith(f'iter_{stopped}.pth')
    meta = load_checkpoint_safely(last)['meta']
    assert (meta['epoch'], meta['iter']) == (1, stopped)  # mid-epoch 2 (counted from 0)

    codes, logs = wait(start_ranks(data, work_dir, workers, '--resume'), work_dir)
    assert codes == [0, 0], logs
    assert f'resuming epoch 2 at batch {stopped - 6} of 6' in logs
    resumed = losses(work_dir)
    assert sorted(resumed) == list(range(1, 13))
    for it in range(1, 13):
        assert resumed[it] == ref_losses[it], it  # bit-identical, not merely close
    weights = final_weights(work_dir)
    assert weights.keys() == ref_weights.keys()
    for k, v in ref_weights.items():
        assert torch.equal(weights[k], v), k
