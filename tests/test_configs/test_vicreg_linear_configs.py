"""Linear-evaluation configs of the dense and gated branches of a dynamic-gating checkpoint
(configs/benchmarks/classification/*/vicreg-dual-gating-r18-*_linear-*), as the reference
evaluates them (main_linear.py, solo/methods/linear.py): the whole pretraining checkpoint is
loaded, the frozen backbone runs in eval mode with ``flag`` 1 (dense) or 0 (gated), and one
SGD step moves the linear classifier only."""
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmcls.structures import ClsDataSample

import dspnet_mm  # noqa: F401
from conftest import REPO

LINEAR = sorted(glob.glob(os.path.join(REPO, 'configs', 'benchmarks', 'classification', '*',
                                       'vicreg-dual-gating-r18-*_linear-*.py')))
PRETRAIN = {'cifar10': 'vicreg-dual-gating_r18_cifar10.py',
            'cifar100': 'vicreg-dual-gating_r18_cifar100.py',
            'stl10': 'vicreg-dual-gating_r18_stl10.py', 'in100': 'vicreg-dual-gating_r18_in100.py'}
SIZE = {'cifar10': 32, 'cifar100': 32, 'stl10': 96, 'in100': 224}
CLASSES = {'cifar10': 10, 'cifar100': 100, 'stl10': 10, 'in100': 100}


def test_every_dataset_has_a_dense_and_a_gated_config():
    names = [os.path.basename(p) for p in LINEAR]
    assert len(names) == 8
    for data in PRETRAIN:
        for branch in ('dense', 'gated'):
            assert f'vicreg-dual-gating-r18-{branch}_linear-1xb512-steplr-100e_{data}.py' in names


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
    """A pretraining checkpoint of each dataset's dual-gating config (random weights, random
    BN statistics and gate biases so that both branches and the gates matter)."""
    out = {}
    for data, name in PRETRAIN.items():
        cfg = Config.fromfile(os.path.join(REPO, 'configs', name))
        init_default_scope('mmselfsup')
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
        torch.manual_seed(0)
        for m in model.backbone.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 2.)
                m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.2, 0.2)
        path = tmp_path_factory.mktemp(data) / 'epoch_500.pth'
        torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=500)), path)
        out[data] = (str(path), model.backbone.eval())
    return out


@pytest.mark.parametrize('path', LINEAR, ids=os.path.basename)
def test_linear_config_loads_the_checkpoint_and_steps_the_classifier_only(path, pretrained):
    data = os.path.basename(path).rsplit('_', 1)[1][:-3]
    gated = '-gated_' in path
    ckpt, source = pretrained[data]
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    # the reference's protocol (solo-learn's VICReg linear script, LinearModel)
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.3, momentum=0.9, weight_decay=0.)
    assert cfg.param_scheduler[0].milestones == [60, 80] and cfg.train_cfg.max_epochs == 100
    assert cfg.train_dataloader.batch_size == 512
    assert cfg.model.backbone.gated is gated and cfg.model.head.num_classes == CLASSES[data]
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    backbone = model.backbone
    for k, v in source.state_dict().items():  # the whole pretraining backbone, both branches
        assert torch.equal(backbone.state_dict()[k], v), k
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    assert not backbone.layer4[1].training and not backbone.layer1[0].gate.training
    size = SIZE[data]
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (4, 3, size, size), generator=g).float()
    samples = [ClsDataSample().set_gt_label(i % CLASSES[data]) for i in range(4)]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    stats = {n: b.clone() for n, b in model.named_buffers()}
    log_vars = model.train_step(dict(inputs=list(x), data_samples=samples), optim)
    assert torch.isfinite(log_vars['loss'])
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {'head.fc.weight', 'head.fc.bias'}
    assert all(torch.equal(b, stats[n]) for n, b in model.named_buffers()), 'BN stats moved'
    assert before['head.fc.weight'].min() >= 0 and before['head.fc.weight'].max() < 1
    # the features are the pretraining backbone's chosen branch in eval mode (reference:
    # ``self.backbone(X, self.flag, ...)`` under ``backbone.eval()``)
    model.eval()
    with torch.no_grad():
        inputs = model.data_preprocessor(dict(inputs=list(x), data_samples=samples))['inputs']
        feats = model.extract_feat(inputs)[0]
        expected = source(inputs, gated=gated)[0].mean((2, 3))
        other = source(inputs, gated=not gated)[0].mean((2, 3))
    assert torch.allclose(feats, expected, atol=1e-4)
    assert not torch.allclose(feats, other, atol=1e-3)
