"""GateAnnealingHook: p = exp(-alpha * epoch), once per epoch, restored on resume."""
import math
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import EpochBasedTrainLoop, Runner

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.apis import load_checkpoint_safely
from dspnet_mm.engine.hooks import GateAnnealingHook
from dspnet_mm.models.losses import SparsityLoss
from dspnet_mm.registry import HOOKS

CFG = os.path.join(REPO, 'configs', 'vicreg-dual-gating_r18_fmnist.py')
DATA = os.path.join(REPO, 'data', 'fashion_mnist')


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.sparsity_loss = SparsityLoss(t_d=0.3)


def fake_runner(model, iters_in_loader=10, epoch_based=False):
    loop = object.__new__(EpochBasedTrainLoop) if epoch_based else object()
    return SimpleNamespace(iter=0, epoch=0, model=model, train_loop=loop,
                           train_dataloader=[None] * iters_in_loader,
                           message_hub=MessageHub.get_instance('gate-annealing-test'))


def test_p_follows_the_epoch_of_the_iteration():
    model = Model()
    runner = fake_runner(model)
    hook = GateAnnealingHook(alpha=0.1, iters_per_epoch=3)
    seen = []
    for it in range(8):
        runner.iter = it
        hook.before_train_iter(runner, it)
        seen.append(model.sparsity_loss.p.item())
    expected = [math.exp(-0.1 * (it // 3)) for it in range(8)]
    assert seen == pytest.approx(expected)
    assert runner.message_hub.get_info('gate_p') == pytest.approx(math.exp(-0.2))


def test_epoch_definitions():
    model = Model()
    # iteration loop without iters_per_epoch: dataset length / batch size = len(dataloader)
    runner = fake_runner(model, iters_in_loader=4)
    runner.iter = 9
    GateAnnealingHook(alpha=1.).before_train_iter(runner, 0)
    assert model.sparsity_loss.p.item() == pytest.approx(math.exp(-2))
    # epoch loop: the runner's epoch
    runner = fake_runner(model, epoch_based=True)
    runner.iter, runner.epoch = 1000, 3
    GateAnnealingHook(alpha=1.).before_train_iter(runner, 0)
    assert model.sparsity_loss.p.item() == pytest.approx(math.exp(-3))


def test_updates_only_when_the_epoch_changes():
    model = Model()
    runner = fake_runner(model)
    hook = GateAnnealingHook(alpha=0.5, iters_per_epoch=10)
    hook.before_train_iter(runner, 0)
    model.sparsity_loss.set_p(0.123)  # anything set within the epoch is left alone...
    runner.iter = 5
    hook.before_train_iter(runner, 5)
    assert model.sparsity_loss.p.item() == pytest.approx(0.123)
    runner.iter = 10  # ...until the next epoch starts
    hook.before_train_iter(runner, 10)
    assert model.sparsity_loss.p.item() == pytest.approx(math.exp(-0.5))


def test_errors():
    with pytest.raises(ValueError):
        GateAnnealingHook(alpha=-1)
    with pytest.raises(ValueError):
        GateAnnealingHook(iters_per_epoch=0)
    runner = fake_runner(torch.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match='no SparsityLoss'):
        GateAnnealingHook().before_train_iter(runner, 0)


@HOOKS.register_module()
class _RecordGateP(Hook):
    """Records p after checkpoint loading and at every iteration (after the annealing)."""
    priority = 'LOWEST'
    records = []

    def before_train(self, runner):
        self.records.append(('start', runner.iter, runner.model.sparsity_loss.p.item()))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.records.append(('iter', runner.iter, runner.model.sparsity_loss.p.item()))


def runner_cfg(work_dir, max_iters, resume=False):
    cfg = Config.fromfile(CFG)
    cfg.model.backbone.update(stem_channels=8, base_channels=8)
    cfg.model.neck.update(in_channels=64, hid_channels=32, out_channels=32)
    cfg.train_dataloader.update(batch_size=8, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.update(data_prefix=DATA, indices=32)
    cfg.train_cfg.max_iters = max_iters
    cfg.param_scheduler = []
    cfg.custom_hooks = [dict(type='GateAnnealingHook', alpha=0.5, iters_per_epoch=2),
                        dict(type='_RecordGateP')]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    cfg.work_dir, cfg.resume = str(work_dir), resume
    cfg.experiment_name = f'gate_p_{max_iters}_{resume}'
    return cfg


def test_resume_restores_p(tmp_path):
    _RecordGateP.records = []
    Runner.from_cfg(runner_cfg(tmp_path, 3)).train()
    first = list(_RecordGateP.records)
    assert [r[:2] for r in first] == [('start', 0), ('iter', 0), ('iter', 1), ('iter', 2)]
    # p at iteration i is exp(-0.5 * (i // 2)): the checkpoint holds the last one
    assert [r[2] for r in first[1:]] == pytest.approx([1., 1., math.exp(-0.5)])
    ckpt = load_checkpoint_safely(str(tmp_path / 'iter_3.pth'))
    assert ckpt['state_dict']['sparsity_loss.p'].item() == pytest.approx(math.exp(-0.5))

    _RecordGateP.records = []
    Runner.from_cfg(runner_cfg(tmp_path, 5, resume=True)).train()
    resumed = _RecordGateP.records
    # loaded from the checkpoint before training restarts, then annealed per epoch as before
    assert resumed[0] == ('start', 3, pytest.approx(math.exp(-0.5)))
    assert [r[1] for r in resumed[1:]] == [3, 4]
    assert [r[2] for r in resumed[1:]] == pytest.approx([math.exp(-0.5), math.exp(-1.)])
