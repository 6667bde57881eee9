"""Every VICReg config parses, builds (model, LARS/AdamW optimiser, data pipeline) and trains
one step on a tiny fake batch. The paper-scale ones need data the user provides."""
import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS, TRANSFORMS
from mmselfsup.structures import SelfSupDataSample

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.models import GatedResNet

CONFIGS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'configs',
                                                                     'vicreg*_r18_*.py')))


def test_all_methods_and_datasets_present():
    for method in ('vicreg', 'vicreg-gating', 'vicreg-dual-gating'):
        for data in ('fmnist', 'cifar10', 'cifar100', 'stl10', 'in100'):
            assert f'{method}_r18_{data}.py' in CONFIGS


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_and_trains_one_step(name):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', name))
    paper_scale = 'fmnist' not in name
    if paper_scale:  # the reference's recipe (bash_files/pretrain/*/vicreg_gating.sh)
        assert cfg.train_cfg.max_epochs == 500
        assert cfg.train_dataloader.batch_size == 256
        assert cfg.optim_wrapper.optimizer == dict(
            type='SoloLARS', lr=0.6, momentum=0.9, weight_decay=1e-4, eta=0.02, clip=True,
            exclude_1d=True)
        (sched, ) = cfg.param_scheduler
        assert (sched.type, sched.warmup, sched.total, sched.warmup_start_lr, sched.eta_min,
                sched.by_epoch) == ('LinearWarmupCosineLR', 10, 500, 0.003, 0., True)
        assert cfg.model.neck.hid_channels == cfg.model.neck.out_channels == 2048
        loss = cfg.model.head.loss
        assert loss.gather is False and loss.average_variance is False
        if 'cifar' in name:
            assert cfg.model.backbone.stem_padding == 2
    if 'gating' in name:
        assert cfg.model.sparsity_loss.t_d == (0.5 if paper_scale else 0.3)
        assert cfg.custom_hooks[0].type == 'GateAnnealingHook'
        assert cfg.model.backbone.dual_bn == ('dual' in name)
        if paper_scale:
            assert cfg.model.backbone.flops_convention == 'reference'
            assert cfg.model.backbone.gate_norm_cfg == dict(type='SyncBN')
            assert cfg.model.backbone.get('dual_bn_shortcut', True) is ('dual' not in name)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        # the training pipeline's transforms all exist (the dataset itself needs the data)
        for t in cfg.train_dataloader.dataset.pipeline:
            TRANSFORMS.build(t)
        model = revert_sync_batchnorm(MODELS.build(cfg.model))  # as the Runner does on 1 GPU
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    channels = len(cfg.model.data_preprocessor.mean)
    g = torch.Generator().manual_seed(0)
    data = dict(inputs=[torch.randint(0, 256, (4, channels, 16, 16), generator=g).float()
                        for _ in range(2)],
                data_samples=[SelfSupDataSample() for _ in range(4)])
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(data, optim)
    assert torch.isfinite(torch.as_tensor(log_vars['loss']))
    assert 'loss_vicreg' in log_vars
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert any(n.startswith('backbone.') for n in moved) and any(
        n.startswith('neck.') for n in moved)
    if isinstance(model.backbone, GatedResNet):
        assert {'loss_flops', 'loss_bound', 'flops_kept'} <= set(log_vars)
        assert any('.gate.' in n for n in moved)
    if paper_scale:  # LARS adapts and decays conv/linear weights only; the gates are not decayed
        opt = optim.optimizer
        names = {id(p): n for n, p in model.named_parameters()}
        for group in opt.param_groups:
            for p in group['params']:
                n = names[id(p)]
                assert opt.is_adapted(group, p) == (p.ndim > 1), n
                assert group['weight_decay'] == (0. if '.gate.' in n else 1e-4), n
        assert any('.gate.' in n for n in names.values()) == ('gating' in name)


# The reference's views, written out per dataset (bash_files/pretrain/<data>/vicreg_gating.sh
# through solo/utils/pretrain_dataloader.py): (crop size, blur p of view 1, of view 2)
REFERENCE_VIEWS = {'cifar10': (32, 0., 0.), 'cifar100': (32, 0., 0.2), 'stl10': (96, 0., 0.),
                   'in100': (224, 0., 0.)}


@pytest.mark.parametrize('name', [n for n in CONFIGS if 'fmnist' not in n])
def test_paper_scale_views_are_the_references(name):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', name))
    size, *blur = REFERENCE_VIEWS[name.rsplit('_', 1)[1][:-3]]
    (multiview, ) = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'MultiView']
    assert multiview.num_views == [1, 1]
    for view, blur_p in zip(multiview.transforms, blur):
        expected = ['RandomResizedCrop', 'RandomApply', 'RandomGrayscale'] + (
            ['RandomGaussianBlur'] if blur_p else []) + ['RandomSolarize', 'RandomFlip']
        assert [t.type for t in view] == expected
        crop, jitter, grey, *rest = view
        assert (crop.size, crop.scale, crop.interpolation) == (size, (0.2, 1.0), 'bicubic')
        assert jitter.prob == 0.8 and dict(jitter.transforms[0]) == dict(
            type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
        assert grey.prob == 0.2
        if blur_p:
            assert (rest[0].prob, rest[0].sigma_min, rest[0].sigma_max) == (blur_p, 0.1, 2.0)
        solarize, flip = rest[-2:]
        assert (solarize.prob, solarize.threshold) == (0.1, 128) and flip.prob == 0.5
    # normalisation: the statistics solo-learn's transforms use, x 255
    stats = {'cifar10': ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
             'cifar100': ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
             'stl10': ((0.4914, 0.4823, 0.4466), (0.247, 0.243, 0.261)),
             'in100': ((0.485, 0.456, 0.406), (0.228, 0.224, 0.225))}
    mean, std = stats[name.rsplit('_', 1)[1][:-3]]
    pre = cfg.model.data_preprocessor
    assert pre.mean == pytest.approx([255 * m for m in mean], abs=0.06)
    assert pre.std == pytest.approx([255 * s for s in std], abs=0.06)
