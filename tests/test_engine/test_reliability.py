"""Kill-and-resume equality, atomic checkpoint writes, and the non-finite-loss stop."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.fileio import get_file_backend

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.apis import load_checkpoint_safely
from dspnet_mm.engine.optimizers.cpu_amp import cpu_bf16_features

DATA = os.path.join(REPO, 'data', 'fashion_mnist')
TINY = ['train_dataloader.batch_size=16', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', f'train_dataloader.dataset.data_prefix={DATA}',
        'train_dataloader.dataset.indices=512', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=4', 'default_hooks.checkpoint.max_keep_ckpts=5',
        'randomness.deterministic=True', 'train_cfg.max_iters=12']


def train_cmd(config, work_dir, *extra):
    return [sys.executable, os.path.join(REPO, 'tools', 'train.py'),
            os.path.join(REPO, 'configs', config), '--work-dir', work_dir, *extra,
            '--cfg-options', *TINY]


def losses_by_iter(work_dir):
    out = {}
    for path in sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if 'loss' in rec:
                    out[rec['iter']] = {k: v for k, v in rec.items() if k.startswith('loss')}
    return out


@pytest.mark.parametrize('config', ['dspnet_r18_fmnist.py', 'vicreg-dual-gating_r18_fmnist.py'])
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, config):
    ref_dir, run_dir = str(tmp_path / 'ref'), str(tmp_path / 'run')
    ref = subprocess.run(train_cmd(config, ref_dir), capture_output=True, text=True,
                         timeout=900, cwd=REPO)
    assert ref.returncode == 0, ref.stderr[-3000:]
    # the CPU configs train in bf16 where the CPU has it: then this is bf16's exact resume
    assert ('bf16 autocast on the CPU' in ref.stdout + ref.stderr) == bool(cpu_bf16_features())
    # start the same run, SIGKILL it once iteration 8's checkpoint exists
    proc = subprocess.Popen(train_cmd(config, run_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.time() + 600
    while not os.path.exists(os.path.join(run_dir, 'iter_8.pth')):
        assert proc.poll() is None and time.time() < deadline, 'run ended before iter 8'
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(losses_by_iter(run_dir))
    assert killed_at < 12
    ckpt = load_checkpoint_safely(os.path.join(run_dir, 'iter_8.pth'))
    assert ckpt['meta']['iter'] == 8 and 'optimizer' in ckpt and 'param_schedulers' in ckpt
    if config.startswith('dspnet'):  # EMA target and every DN's private BN are saved
        assert any(k.startswith('target_net.') for k in ckpt['state_dict'])
        assert any('.subnet_bns.' in k for k in ckpt['state_dict'])
    else:  # gated-branch BNs and the annealing state p
        assert any('.gated_bn.' in k for k in ckpt['state_dict'])
        assert any(k.endswith('.p') or k.endswith('_p') for k in ckpt['state_dict']), \
            [k for k in ckpt['state_dict'] if 'sparsity' in k]
    res = subprocess.run(train_cmd(config, run_dir, '--resume'), capture_output=True, text=True,
                         timeout=900, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    ref_losses, resumed = losses_by_iter(ref_dir), losses_by_iter(run_dir)
    assert sorted(resumed) == list(range(1, 13))
    for it in range(9, 13):  # the iterations after the resume
        assert resumed[it].keys() == ref_losses[it].keys()
        for k, v in ref_losses[it].items():
            assert resumed[it][k] == v, (it, k)  # bit-identical, not merely close
    final_ref = load_checkpoint_safely(os.path.join(ref_dir, 'iter_12.pth'))['state_dict']
    final_res = load_checkpoint_safely(os.path.join(run_dir, 'iter_12.pth'))['state_dict']
    for k in final_ref:
        assert torch.equal(final_ref[k], final_res[k]), k


def test_atomic_backend_keeps_previous_file_on_crash(tmp_path, monkeypatch):
    backend = get_file_backend(str(tmp_path), backend_args=dict(backend='atomic_local'))
    path = str(tmp_path / 'iter_4.pth')
    backend.put(b'good checkpoint', path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process is stopped mid-write

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'half-written', path)
    with open(path, 'rb') as f:
        assert f.read() == b'good checkpoint'
    assert os.listdir(tmp_path) == ['iter_4.pth']  # no temporary file left behind


def test_kill_during_checkpoint_write_leaves_previous_loadable(tmp_path):
    """A separate process is SIGKILLed while writing a big checkpoint through the backend."""
    target = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': {'w': torch.ones(3)}}, target)
    code = ('import torch, io, dspnet_mm; from mmengine.fileio import get_file_backend\n'
            f'b = get_file_backend({str(tmp_path)!r}, backend_args=dict(backend="atomic_local"))\n'
            'buf = io.BytesIO(); torch.save({"state_dict": {"w": torch.zeros(30_000_000)}}, buf)\n'
            'print("writing", flush=True)\n'
            f'b.put(buf.getvalue() * 8, {target!r})\n')
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'writing'
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    assert torch.equal(load_checkpoint_safely(target)['state_dict']['w'], torch.ones(3))


def test_non_finite_loss_stops_with_named_term(tmp_path):
    work_dir = str(tmp_path / 'nan')
    # a learning rate of 1e30 makes the weights overflow within a few iterations
    cmd = train_cmd('dspnet_r18_fmnist.py', work_dir)
    cmd += ['optim_wrapper.optimizer.lr=1e30', 'param_scheduler=[]',
            'default_hooks.checkpoint.interval=1']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert out.returncode != 0
    assert 'non-finite loss at iteration' in out.stderr
    assert 'loss_r18_' in out.stderr.split('non-finite loss at iteration')[-1]
    last = open(os.path.join(work_dir, 'last_checkpoint')).read().strip()
    ckpt = load_checkpoint_safely(last)
    assert all(torch.isfinite(v.float()).all() for v in ckpt['state_dict'].values())


def test_temporaries_of_killed_writers_are_removed_on_the_next_save(tmp_path):
    """A writer SIGKILLed mid-save cannot clean up; the next checkpoint save (any name) in the
    folder removes its temporary, and keeps those of writers still running."""
    code = ('import os, dspnet_mm; from mmengine.fileio import get_file_backend\n'
            f'b = get_file_backend({str(tmp_path)!r}, backend_args=dict(backend="atomic_local"))\n'
            'os.fsync = lambda fd: (print("writing", flush=True), os.kill(os.getpid(), 9))\n'
            f'b.put(b"x" * 1000, {str(tmp_path / "iter_8.pth")!r})\n')
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'writing'
    proc.wait()
    (left, ) = [p for p in os.listdir(tmp_path) if p.endswith('.partial')]
    assert left.startswith('.iter_8.pth.')
    alive = tmp_path / f'.iter_9.pth.{os.getpid()}.abc.partial'  # a live writer's file
    alive.write_bytes(b'in progress')
    backend = get_file_backend(str(tmp_path), backend_args=dict(backend='atomic_local'))
    backend.put(b'next checkpoint', str(tmp_path / 'iter_12.pth'))
    assert sorted(os.listdir(tmp_path)) == [alive.name, 'iter_12.pth']


def test_temporaries_of_killed_writers_are_removed_before_a_resume(tmp_path):
    """``tools/train.py`` clears them from the work dir before it starts or resumes (what
    ``remove_stale_checkpoint_temporaries`` does), keeping a live writer's file."""
    from mmengine.config import Config

    from dspnet_mm.apis.train_config import remove_stale_checkpoint_temporaries
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f'.iter_8.pth.{dead}.x1y2.partial'
    stale.write_bytes(b'half a checkpoint')
    alive = tmp_path / f'.iter_9.pth.{os.getpid()}.abc.partial'
    alive.write_bytes(b'in progress')
    (tmp_path / 'iter_4.pth').write_bytes(b'kept')
    removed = remove_stale_checkpoint_temporaries(Config(dict(work_dir=str(tmp_path))))
    assert removed == [str(stale)]
    assert sorted(os.listdir(tmp_path)) == [alive.name, 'iter_4.pth']
    assert remove_stale_checkpoint_temporaries(Config(dict(work_dir=str(tmp_path / 'no')))) == []
