"""tools/train.py (and tools/analyze_gating.py, which shares --cfg-options) on bad input for a
resume, a launch or an override: one ``error:`` line, status 2, no traceback, and nothing in
the work dir written or changed. Also ``--resume`` without a path:
where it finds the checkpoint, and a fresh start when there is none."""
import os

import pytest
import torch

import dspnet_mm  # noqa: F401
from conftest import REPO, load_tool
from dspnet_mm.apis.train_config import find_resume_checkpoint
from dspnet_mm.testing import make_fashion_mnist

CONFIG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')


def snapshot(folder):
    return {name: open(os.path.join(folder, name), 'rb').read()
            for name in sorted(os.listdir(folder))}


@pytest.fixture
def setup(tmp_path):
    data = make_fashion_mnist(str(tmp_path / 'data'))
    work = tmp_path / 'work'
    work.mkdir()
    # what a previous run left: its checkpoint, the pointer, a log
    torch.save(dict(state_dict={'w': torch.ones(2)}), work / 'iter_4.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    (work / 'dspnet_r18_fmnist.py').write_text('# the config dump of the previous run\n')
    slim = tmp_path / 'r18_w05.pth'  # a slimmed network: weights and meta, no training state
    torch.save(dict(state_dict={'conv1.weight': torch.zeros(8, 1, 3, 3)},
                    meta=dict(subnet='r18_w05')), slim)
    other = tmp_path / 'other.pth'  # another algorithm's training state
    torch.save(dict(state_dict={'backbone.gate.weight': torch.zeros(3)}, optimizer={},
                    message_hub={}, meta=dict(epoch=1, iter=8)), other)
    return data, work, dict(slim=str(slim), other=str(other))


CASES = {
    'resume from weights only': (lambda f: ['--resume', f['slim']],
                                 r'holds no training state \(optimizer, message_hub, '
                                 r'meta.epoch, meta.iter missing'),
    "resume from another model's state": (
        lambda f: ['--resume', f['other']],
        r"holds the training state of another model than this config's DSPNet "
        r'\(tensors this model lacks: 1 \(e.g. backbone.gate.weight\); tensors of this model '
        r'missing: \d+'),
    'malformed --cfg-options': (lambda f: ['--cfg-options', 'train_cfg.max_iters'],
                                r"--cfg-options 'train_cfg.max_iters': expected KEY=VALUE"),
    'unbalanced bracket in --cfg-options': (
        lambda f: ['--cfg-options', 'train_cfg.max_iters=[1,2'],
        r"--cfg-options 'train_cfg.max_iters=\[1,2': "),
    'custom_hooks not a list of hooks': (
        lambda f: ['--cfg-options', 'custom_hooks=x'],
        r"custom_hooks='x' is not a list of hook configs"),
    'slurm launcher outside slurm': (lambda f: ['--launcher', 'slurm'],
                                     r'--launcher slurm: not inside a slurm job step'),
    'pytorch launcher without torchrun': (lambda f: ['--launcher', 'pytorch'],
                                          r'--launcher pytorch: .*unset; start it with '
                                          r'tools/dist_train.sh'),
}


@pytest.mark.parametrize('case', CASES)
def test_bad_resume_or_launch_is_one_error_line_and_writes_nothing(case, setup, capsys,
                                                                   monkeypatch):
    import re
    data, work, files = setup
    for var in ('SLURM_PROCID', 'RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('LOCAL_RANK', '0')  # train.py sets it; restored afterwards
    before = snapshot(work)
    args, expected = CASES[case]
    argv = [CONFIG, '--work-dir', str(work), *args(files)]
    if '--cfg-options' not in argv:
        argv += ['--cfg-options', f'train_dataloader.dataset.data_prefix={data}']
    try:
        rc = load_tool('train.py').main(argv)
    except SystemExit as e:  # argparse's exit (a malformed option)
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith('error: ') and len(err.strip().splitlines()) == 1, err
    assert re.search(expected, err), err
    assert snapshot(work) == before  # nothing written, nothing overwritten


def test_resume_without_a_path_finds_the_last_checkpoint(tmp_path):
    work = tmp_path / 'work'
    assert find_resume_checkpoint(str(work)) is None  # no work dir yet: start afresh
    work.mkdir()
    for name in ('epoch_1.pth', 'iter_1500.pth'):
        (work / name).write_bytes(b'x')
        os.utime(work / name, (1, 1) if name.startswith('epoch') else (2, 2))
    (work / 'iter_1600.pth').write_bytes(b'')  # an interrupted copy: never chosen
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_1500.pth')  # newest
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    assert find_resume_checkpoint(str(work)) == str(work / 'epoch_1.pth')  # the pointer wins
    (work / 'last_checkpoint').write_text('')  # a pointer cut short: the newest file again
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_1500.pth')
    (work / 'last_checkpoint').write_text(str(work / 'gone.pth'))
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_1500.pth')


def test_analyze_gating_refuses_a_malformed_override(tmp_path):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'analyze_gating.py'),
                          str(tmp_path / 'c.pth'), '--cfg-options', 'model.x'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith('error: --cfg-options ') and \
        len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_a_distributed_run_destroys_its_process_group(tmp_path, monkeypatch):
    """A gloo group left to the interpreter's exit can abort a rank after a good run (status
    -6, "terminate called without an active exception"; pytorch/pytorch#190489). train.py
    destroys it whether the run ends, fails or is preempted."""
    import socket

    import torch.distributed as dist
    data = make_fashion_mnist(str(tmp_path / 'data'))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    for var, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(port), OMP_NUM_THREADS='1').items():
        monkeypatch.setenv(var, value)
    argv = [CONFIG, '--launcher', 'pytorch', '--work-dir', str(tmp_path / 'work'),
            '--cfg-options', f'train_dataloader.dataset.data_prefix={data}',
            'train_cfg.max_iters=2', 'train_dataloader.batch_size=4',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False']
    try:
        assert load_tool('train.py').main(argv) == 0
        assert (tmp_path / 'work' / 'iter_2.pth').exists()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
