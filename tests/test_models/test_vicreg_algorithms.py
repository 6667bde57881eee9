"""VICReg, VICRegGating, VICRegDualGating: what each branch sees, losses, gradients."""
import copy
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.models import VICReg, VICRegDualGating, VICRegGating

SMALL = dict(stem_channels=8, base_channels=8)


def build(name, **overrides):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', f'{name}.py')).model
    cfg.backbone.update(SMALL)
    cfg.neck.update(in_channels=64, hid_channels=32, out_channels=32)
    for key, value in overrides.items():
        cfg[key] = value
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        return MODELS.build(cfg)


def views(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 1, 28, 28, generator=g), torch.randn(n, 1, 28, 28, generator=g)]


def test_vicreg_baseline_loss_is_the_head_on_both_projections():
    model = build('vicreg_r18_fmnist')
    assert isinstance(model, VICReg)
    model.train()
    x = views()
    losses = model.loss(x, None)
    assert set(losses) == {'loss_vicreg', 'vicreg_inv', 'vicreg_var', 'vicreg_cov'}
    loss, log_vars = model.parse_losses(losses)
    assert torch.equal(loss, losses['loss_vicreg'])  # logged terms are not summed in
    inv, var, cov = (losses[k] for k in ('vicreg_inv', 'vicreg_var', 'vicreg_cov'))
    assert torch.allclose(loss, 25 * inv + 25 * var + cov, rtol=1e-5)
    loss.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_dual_gating_sends_view1_gated_and_view2_dense(monkeypatch):
    model = build('vicreg-dual-gating_r18_fmnist')
    assert isinstance(model, VICRegDualGating) and not model.symmetric
    model.train()
    model.backbone.flops((1, 28, 28))  # build the FLOPs table (one dense pass) beforehand
    calls = []
    forward = type(model.backbone).forward

    def spy(self, x, gated=False):
        calls.append((x, gated))
        return forward(self, x, gated=gated)

    monkeypatch.setattr(type(model.backbone), 'forward', spy)
    x = views()
    torch.manual_seed(1)
    losses = model.loss(x, None)
    assert [(c[0] is x[0], c[1]) for c in calls] == [(True, True), (False, False)]
    assert calls[1][0] is x[1]
    # the same computation by hand (same gate noise)
    reference = copy.deepcopy(model)
    torch.manual_seed(1)
    feats, masks = reference.backbone.forward_gated(x[0])
    z_gated = reference.neck(feats)[0]
    z_dense = reference.neck(reference.backbone(x[1], gated=False))[0]
    expected = reference.head.loss(z_gated, z_dense)
    assert torch.allclose(losses['loss_vicreg'], expected)
    kept = reference.backbone.flops((1, 28, 28)).kept(masks).mean()
    assert torch.allclose(losses['flops_kept'], kept)
    assert torch.allclose(losses['loss_flops'], 5 * (kept - 0.3) ** 2)


def test_dual_gating_step_trains_gates_and_both_bns():
    model = build('vicreg-dual-gating_r18_fmnist')
    model.train()
    bn = model.backbone.layer3[0].bn1
    dense0, gated0 = bn.running_mean.clone(), bn.gated_bn.running_mean.clone()
    losses = model.loss(views(), None)
    assert {'loss_vicreg', 'loss_flops', 'loss_bound', 'flops_kept', 'gate_p'} <= set(losses)
    assert 0 < losses['flops_kept'] < 1.2 and losses['gate_p'] == 1.
    loss, _ = model.parse_losses(losses)
    assert torch.allclose(loss, losses['loss_vicreg'] + losses['loss_flops'] +
                          losses['loss_bound'])
    loss.backward()
    # each branch updated its own BN statistics once
    assert not torch.equal(bn.running_mean, dense0)
    assert not torch.equal(bn.gated_bn.running_mean, gated0)
    assert bn.num_batches_tracked == 1 and bn.gated_bn.num_batches_tracked == 1
    # gradients reach the gates, both BN sets, the shared convs and the projector
    for name, p in [('gate', model.backbone.layer3[0].gate.expand.weight),
                    ('dense bn', bn.weight), ('gated bn', bn.gated_bn.weight),
                    ('conv', model.backbone.layer3[0].conv1.weight),
                    ('stem', model.backbone.conv1.weight)]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_sparsity_loss_alone_moves_the_gates_towards_the_budget():
    """A few optimiser steps on the sparsity loss only: FLOPs kept goes from ~0.5 to t_d."""
    model = build('vicreg-dual-gating_r18_fmnist')
    model.sparsity_loss.t_d = 0.2
    model.sparsity_loss.set_p(0.)  # budget term only
    model.train()
    gates = [p for n, p in model.named_parameters() if '.gate.' in n]
    opt = torch.optim.Adam(gates, lr=0.05)
    x = views(8)[0]
    kept = []
    for _ in range(30):
        _, masks = model.backbone.forward_gated(x)
        out = model.sparsity_loss(masks, model.backbone.flops(x.shape[1:]))
        kept.append(out['flops_kept'].item())
        opt.zero_grad()
        out['loss_flops'].backward()
        opt.step()
    assert kept[0] > 0.4
    assert abs(sum(kept[-5:]) / 5 - 0.2) < 0.08


def test_symmetric_averages_both_directions(monkeypatch):
    model = build('vicreg-dual-gating_r18_fmnist', symmetric=True)
    model.train()
    calls = []

    def fake(gated_view, dense_view):
        calls.append((gated_view, dense_view))
        return dict(loss_vicreg=torch.tensor(float(len(calls))))

    monkeypatch.setattr(model, 'gated_vs_dense', fake)
    x = views()
    losses = model.loss(x, None)
    assert calls[0][0] is x[0] and calls[1][0] is x[1] and calls[1][1] is x[0]
    assert losses['loss_vicreg'].item() == 1.5


def test_single_gated_stream_uses_masks_of_both_views():
    model = build('vicreg-gating_r18_fmnist')
    assert isinstance(model, VICRegGating) and not model.backbone.dual_bn
    model.train()
    captured = {}
    original = model.sparsity_loss.forward

    def spy(masks, flops):
        captured['masks'] = masks
        return original(masks, flops)

    model.sparsity_loss.forward = spy
    losses = model.loss(views(n=5), None)
    assert all(m.size(0) == 10 for m in captured['masks'])
    model.parse_losses(losses)[0].backward()
    assert model.backbone.layer1[0].gate.expand.weight.grad.abs().sum() > 0


def test_gated_algorithms_reject_wrong_backbones():
    with pytest.raises(TypeError, match='needs a GatedResNet'):
        build('vicreg-dual-gating_r18_fmnist',
              backbone=dict(type='mmcls.ResNet_CIFAR', depth=18, in_channels=1))
    with pytest.raises(ValueError, match='dual_bn=False'):
        cfg = Config.fromfile(os.path.join(REPO, 'configs',
                                           'vicreg-gating_r18_fmnist.py')).model
        cfg.backbone.dual_bn = True
        cfg.backbone.update(SMALL)
        with DefaultScope.overwrite_default_scope('mmselfsup'):
            MODELS.build(cfg)


def test_extract_feat_branches():
    model = build('vicreg-dual-gating_r18_fmnist')
    model.eval()
    x = views(2)
    with torch.no_grad():
        dense = model.extract_feat([x[0]])[0]
        gated = model.extract_feat([x[0]], gated=True)[0]
    assert dense.shape == gated.shape == (2, 64, 2, 2)
    assert not torch.allclose(dense, gated)


def test_single_gated_stream_step_equals_the_hand_computation():
    """Both views through the gated branch; VICReg of the two gated projections; the sparsity
    loss on the masks of both views stacked as one batch. Nothing else enters the loss."""
    model = build('vicreg-gating_r18_fmnist')
    model.train()
    model.backbone.flops((1, 28, 28))  # build the FLOPs table beforehand
    x = views(n=5)
    reference = copy.deepcopy(model)
    torch.manual_seed(1)
    losses = model.loss(x, None)
    torch.manual_seed(1)  # the same gate noise
    f1, m1 = reference.backbone.forward_gated(x[0])
    f2, m2 = reference.backbone.forward_gated(x[1])
    z1, z2 = reference.neck(f1)[0], reference.neck(f2)[0]
    torch.testing.assert_close(losses['loss_vicreg'], reference.head.loss(z1, z2))
    masks = [torch.cat(pair) for pair in zip(m1, m2)]
    table = reference.backbone.flops((1, 28, 28))
    kept = table.kept(masks).mean()
    torch.testing.assert_close(losses['flops_kept'], kept)
    torch.testing.assert_close(losses['loss_flops'], 5 * (kept - model.sparsity_loss.t_d) ** 2)
    loss, _ = model.parse_losses(losses)
    torch.testing.assert_close(loss, losses['loss_vicreg'] + losses['loss_flops']
                               + losses['loss_bound'])
