"""The console of a training run: upstream per-parameter lines summarised (the log file keeps
them), the first screen says what is about to happen, warnings still show; --verbose
(VerboseTrainRunner) shows all."""
import glob
import io
import logging
import os
import subprocess
import sys

import pytest
import torch
from mmengine.model import BaseModel

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm import compat
from dspnet_mm.engine.runner import (ReproducibleIterBasedTrainLoop, TrainRunner,
                                     VerboseTrainRunner)
from dspnet_mm.testing import make_fashion_mnist


def test_console_summary_counts_upstream_lines_and_keeps_the_file_complete(tmp_path):
    logger = logging.getLogger('test_console_summary')
    logger.setLevel(logging.INFO)
    console, path = io.StringIO(), tmp_path / 'run.log'
    logger.handlers = [logging.StreamHandler(console), logging.FileHandler(path)]
    summary = compat.summarise_console(logger)
    for i in range(3):
        logger.warning(f'target_net.layer{i}.weight is skipped since its requires_grad=False')
    logger.warning('backbone.stem.weight is skipped since its requires_grad=False')
    logger.info('paramwise_options -- backbone.bn1.weight:weight_decay=0.0')
    logger.info('paramwise_options -- backbone.conv1.bias:weight_decay=0.0')
    logger.info('paramwise_options -- head.fc.weight:lr_mult=0.1')
    logger.warning('a real warning')
    logger.info('Config:\n' + 'x = 1\n' * 50)
    assert console.getvalue() == 'a real warning\n'
    assert summary.flush() == [
        'backbone: 1 tensors not optimised (requires_grad=False)',
        'EMA target: 3 tensors not optimised (as intended)',
        'lr mult 0.1 on 1 tensors (paramwise_cfg)',
        'weight decay 0 on 2 norm/bias tensors (paramwise_cfg)']
    assert summary.flush() == []
    for h in logger.handlers:
        h.flush()
    text = path.read_text()
    assert text.count('is skipped since') == 4 and text.count('paramwise_options') == 3
    assert 'x = 1' in text


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return make_fashion_mnist(str(tmp_path_factory.mktemp('fmnist')), 64)


def train(data, work_dir, *flags):
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'train.py'),
           os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py'), '--work-dir', str(work_dir),
           *flags, '--cfg-options', f'train_dataloader.dataset.data_prefix={data}',
           'train_cfg.max_iters=1', 'train_dataloader.batch_size=16',
           'train_dataloader.num_workers=0',
           'train_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    (log, ) = glob.glob(os.path.join(work_dir, '*', '*.log'))
    return out.stdout + out.stderr, open(log).read()


def test_quiet_console_first_screen_then_progress(data, tmp_path):
    console, log = train(data, tmp_path / 'quiet')
    lines = console.strip().splitlines()
    assert len(lines) < 30, console  # was 852 lines upstream for 2 iterations
    assert 'Warning' not in console and 'deprecated' not in console
    assert 'is skipped since' not in console and 'paramwise_options' not in console
    assert 'System environment' not in console and 'Config:' not in console
    for expected in ('config: ', 'configs/dspnet_r18_fmnist.py', 'DN ', 'r18_w1 ',
                     'data: LocalFashionMNIST, 64 images, batch 16 x 1 process(es), '
                     '4 iterations per epoch; 1 iterations',
                     'checkpoints: every 400 iterations',
                     'EMA target: 209 tensors not optimised (as intended)',
                     'weight decay 0 on 202 norm/bias tensors (paramwise_cfg)',
                     'Iter(train) [1/1]', 'eta: '):
        assert expected in console, (expected, console)
    first_progress = next(i for i, l in enumerate(lines) if 'Iter(train)' in l)
    assert any('config: ' in l for l in lines[:first_progress])
    # the log file keeps the detail
    assert log.count('is skipped since its requires_grad=False') > 100
    assert 'System environment' in log and 'Config:' in log


class FrozenBN(BaseModel):
    """A BN, a frozen layer and a trained weight."""

    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm1d(4)
        self.frozen = torch.nn.Linear(4, 4)
        self.frozen.requires_grad_(False)
        self.w = torch.nn.Parameter(torch.ones(4))

    def forward(self, inputs, data_samples=None, mode='loss'):
        return dict(loss=(self.bn(inputs) * self.w).sum())


@pytest.mark.parametrize('runner_type', [TrainRunner, VerboseTrainRunner])
def test_verbose_runner_shows_upstream_detail(runner_type, tmp_path, capsys):
    runner = runner_type(
        model=FrozenBN(), work_dir=str(tmp_path), experiment_name=f'quiet_{runner_type.quiet}',
        train_dataloader=dict(dataset=[dict(inputs=torch.randn(4)) for _ in range(4)],
                              batch_size=2, sampler=dict(type='DefaultSampler'),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(type=ReproducibleIterBasedTrainLoop, max_iters=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),
                           paramwise_cfg=dict(norm_decay_mult=0.)),
        default_scope='mmengine')
    runner.train()
    out = capsys.readouterr().out
    detail = ('frozen.weight is skipped since its requires_grad=False', 'System environment',
              'paramwise_options -- bn.weight:weight_decay=0.0')
    summary = ('frozen: 2 tensors not optimised (requires_grad=False)',
               'weight decay 0 on 2 norm/bias tensors (paramwise_cfg)')
    shown, hidden = (summary, detail) if runner_type.quiet else (detail, summary)
    assert all(line in out for line in shown), out
    assert not any(line in out for line in hidden), out
