import copy
import itertools
import math
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.models import DSPNet

_HUBS = itertools.count()
CFG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')


def build_model(**overrides):
    cfg = Config.fromfile(CFG).model
    for key, value in overrides.items():
        cfg[key] = value
    hub = MessageHub.get_instance(f'dspnet-test-{next(_HUBS)}')  # fresh: no 'iter' info
    hub.update_info('max_iters', 100)  # read by CosineEMA
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return MODELS.build(cfg)


def views(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 1, 28, 28, generator=g), torch.randn(n, 1, 28, 28, generator=g)]


def test_dn_order_and_sandwich_sampling():
    model = build_model(num_random=1)
    flops = [model.backbone.complexity(n, 64)['flops'] for n in model.dn_names]
    assert flops == sorted(flops, reverse=True) and model.dn_names[0] == 'r18_w1'
    largest, smallest = model.dn_names[0], model.dn_names[-1]
    draws = [model.sampler.sample() for _ in range(30)]
    assert all(d[0] == largest and d[1] == smallest and len(d) == 3 for d in draws)
    assert len({d[2] for d in draws}) == 3  # the random one varies over the other DNs


def test_step_losses_gradients_and_target():
    model = build_model()
    model.train()
    losses = model.loss(views(), None)
    assert len(losses) == 4 and {'loss_r18_w1', f'loss_{model.dn_names[-1]}'} <= set(losses)
    # mmselfsup's BYOL loss is 2 * (-cos - cos): finite and within [-4, 4]
    assert all(torch.isfinite(v) and -4 <= v.item() <= 4 for v in losses.values())
    loss, log_vars = model.parse_losses(losses)
    assert torch.allclose(loss, sum(losses.values()))
    loss.backward()
    # the smallest DN's private BN, its head and its weight slice get gradients
    smallest = model.dn_names[-1]
    bn = model.backbone.layer4[0].bn2.subnet_bns[smallest]
    assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0
    head = model.dn_heads[smallest]
    missing = [n for n, p in head.named_parameters() if p.grad is None]
    assert not missing
    assert model.dn_heads[smallest] is not model.head
    # the EMA target receives no gradient
    assert all(p.grad is None for p in model.target_net.parameters())


def test_target_moves_only_by_ema():
    """Every tensor the target runs follows the cosine EMA; private BNs are not updated."""
    model = build_model()
    model.train()
    model.loss(views(), None)
    online = dict(torch.nn.Sequential(model.backbone, model.neck).named_parameters())
    before = {k: v.detach().clone() for k, v in model.target_net.module.named_parameters()}
    with torch.no_grad():  # an "optimizer step" on the online network
        for p in online.values():
            p.add_(0.01)
    model.loss(views(seed=1), None)
    m = model.target_net.momentum
    steps = model.target_net.steps - 1
    mom = 1 - (1 - m) * (math.cos(math.pi * steps / 100) + 1) / 2
    for k, t in model.target_net.module.named_parameters():
        if '.subnet_bns.' in k:  # DNs' private BNs: the full-width target never runs them
            assert torch.equal(t, before[k]), k
            continue
        expected = mom * before[k] + (1 - mom) * online[k]
        assert torch.allclose(t, expected, atol=1e-6), k


def test_private_bn_statistics_change_only_for_sampled_dns():
    model = build_model(num_random=0)  # largest + smallest only
    model.train()
    sd0 = copy.deepcopy(model.backbone.state_dict())
    model.loss(views(), None)
    sd1 = model.backbone.state_dict()
    smallest = model.dn_names[-1]
    for name in model.dn_names[1:-1]:
        k = f'bn1.subnet_bns.{name}.running_mean'
        assert torch.equal(sd0[k], sd1[k]), name
    assert not torch.equal(sd0[f'bn1.subnet_bns.{smallest}.running_mean'],
                           sd1[f'bn1.subnet_bns.{smallest}.running_mean'])


def test_same_seed_same_losses():
    results = []
    for _ in range(2):
        torch.manual_seed(3)
        model = build_model(inplace_distill=True)
        model.train()
        results.append({k: v.item() for k, v in model.loss(views(), None).items()})
    assert results[0] == results[1]
    assert any(k.startswith('loss_distill_') for k in results[0])


def test_continuous_sampling_runs_with_shared_bn():
    model = build_model(sample_space='continuous', num_random=2)
    model.train()
    losses = model.loss(views(), None)
    assert len(losses) == 4
    assert all(torch.isfinite(v) for v in losses.values())


def test_rejects_non_slimmable_backbone():
    with pytest.raises(TypeError, match='needs a SlimmableResNet'):
        build_model(backbone=dict(type='mmselfsup.ResNet', depth=18))
