"""Every pretraining config parses, builds, and runs one step on tiny fake input."""
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS
from mmselfsup.structures import SelfSupDataSample

import dspnet_mm  # noqa: F401
from conftest import REPO

OURS = ['dspnet_r50.py', 'dspnet_r18_fmnist.py', 'byol_r18_fmnist.py']


def one_step(cfg, image_shape):
    MessageHub.get_instance('config-test').update_info('max_iters', 10)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        model = revert_sync_batchnorm(MODELS.build(cfg.model))  # what a 1-process Runner does
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    data = dict(inputs=[torch.randint(0, 255, (2, *image_shape)).float() for _ in range(2)],
                data_samples=[SelfSupDataSample() for _ in range(2)])
    log_vars = model.train_step(data, optim)
    return model, log_vars


@pytest.mark.parametrize('name', OURS)
def test_pretraining_configs_build_and_step(name):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', name))
    assert cfg.default_scope == 'mmselfsup'
    big = name == 'dspnet_r50.py'
    shape = (3, 64, 64) if big else (1, 28, 28)
    model, log_vars = one_step(cfg, shape)
    assert torch.isfinite(torch.tensor(log_vars['loss']))
    if name.startswith('dspnet'):
        assert sum(k.startswith('loss_') for k in log_vars) == 4  # sandwich: 2 + num_random
    if big:
        assert cfg.train_dataloader.batch_size == 256
        assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
        assert cfg.optim_wrapper.optimizer.type == 'LARS'
        assert cfg.train_dataloader.dataset.type == 'mmcls.ImageNet'
        assert len(cfg.model.backbone.subnets) >= 4


def test_all_config_files_parse():
    files = glob.glob(os.path.join(REPO, 'configs', '*.py'))
    assert len(files) >= 3
    for f in files:
        cfg = Config.fromfile(f)
        assert 'model' in cfg and 'train_cfg' in cfg, f


@pytest.mark.parametrize('name', sorted(os.path.basename(f) for f in
                                        glob.glob(os.path.join(REPO, 'configs', '*.py'))))
def test_every_pretraining_config_saves_atomically_and_stops_on_nan(name):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', name))
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
    assert 'NonFiniteLossHook' in [h['type'] for h in cfg.custom_hooks]
