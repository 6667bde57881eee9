"""SoloLARS and LinearWarmupCosineLR against the formulas of the dynamic-gating reference code
(solo-learn's ``LARSWrapper`` around ``torch.optim.SGD``; pl_bolts' warm-up cosine)."""
import math

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, init_default_scope

import dspnet_mm  # noqa: F401  (registers the optimizer and the scheduler)
from dspnet_mm.engine.optimizers import LinearWarmupCosineLR, SoloLARS


class ReferenceLARSWrapper:
    """solo-learn's ``solo/utils/lars.py`` ``LARSWrapper.step`` / ``update_p`` (as in
    KrishnaTarun/Unification), transcribed: the independent oracle."""

    def __init__(self, optim, eta, clip, eps=1e-8, exclude_bias_n_norm=True):
        self.optim, self.eta, self.clip, self.eps = optim, eta, clip, eps
        self.exclude_bias_n_norm = exclude_bias_n_norm

    @torch.no_grad()
    def step(self):
        weight_decays = []
        for group in self.optim.param_groups:
            weight_decay = group.get('weight_decay', 0)
            weight_decays.append(weight_decay)
            group['weight_decay'] = 0
            for p in group['params']:
                if p.grad is not None and (p.ndim != 1 or not self.exclude_bias_n_norm):
                    self.update_p(p, group, weight_decay)
        self.optim.step()
        for group_idx, group in enumerate(self.optim.param_groups):
            group['weight_decay'] = weight_decays[group_idx]

    def update_p(self, p, group, weight_decay):
        p_norm = torch.norm(p.data)
        g_norm = torch.norm(p.grad.data)
        if p_norm != 0 and g_norm != 0:
            new_lr = (self.eta * p_norm) / (g_norm + p_norm * weight_decay + self.eps)
            if self.clip:
                new_lr = min(new_lr / group['lr'], 1)
            p.grad.data += weight_decay * p.data
            p.grad.data *= new_lr


def test_one_step_is_the_hand_written_formula():
    torch.manual_seed(0)
    w = torch.randn(4, 3)
    g = torch.randn(4, 3) * 10  # a large gradient: trust < lr, the clip does not bind
    b, gb = torch.randn(4), torch.randn(4)
    lr, wd, eta = 0.6, 1e-4, 0.02
    pw, pb = torch.nn.Parameter(w.clone()), torch.nn.Parameter(b.clone())
    pw.grad, pb.grad = g.clone(), gb.clone()
    SoloLARS([pw, pb], lr=lr, momentum=0.9, weight_decay=wd, eta=eta).step()
    trust = eta * w.norm() / (g.norm() + wd * w.norm() + 1e-8)
    assert trust < lr
    # first momentum step: buffer = gradient; the adapted weight moves by trust * (g + wd w)
    assert torch.allclose(pw, w - trust * (g + wd * w), atol=1e-7)
    assert torch.allclose(pb, b - lr * gb, atol=1e-7)  # 1-D: plain SGD, and no decay at all


def test_clip_caps_the_step_at_lr():
    w, g = torch.ones(2, 2), torch.full((2, 2), 1e-6)  # tiny gradient: trust >> lr
    p = torch.nn.Parameter(w.clone())
    p.grad = g.clone()
    SoloLARS([p], lr=0.1, momentum=0., weight_decay=0.1, eta=0.02).step()
    assert torch.allclose(p, w - 0.1 * (g + 0.1 * w))
    q = torch.nn.Parameter(w.clone())
    q.grad = g.clone()
    SoloLARS([q], lr=0.1, momentum=0., weight_decay=0.1, eta=0.02, clip=False).step()
    trust = 0.02 * w.norm() / (g.norm() + 0.1 * w.norm() + 1e-8)
    assert torch.allclose(q, w - 0.1 * trust * (g + 0.1 * w))


@pytest.mark.parametrize('clip', [True, False])
def test_matches_solo_learn_wrapper_over_steps_and_groups(clip):
    def net():
        torch.manual_seed(1)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8),
                                   torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, 5))

    ours, ref = net(), net()
    with torch.no_grad():  # a tensor at zero: neither adapted nor decayed in both
        ours[3].bias.zero_(), ref[3].bias.zero_()

    def groups(m):  # as paramwise_cfg builds them: the conv with decay 0 (a gate, say)
        return [dict(params=[m[0].weight], weight_decay=0.),
                dict(params=[m[0].bias, m[1].weight, m[1].bias]),
                dict(params=list(m[3].parameters()), lr=0.2)]

    opt = SoloLARS(groups(ours), lr=0.6, momentum=0.9, weight_decay=1e-2, eta=0.02, clip=clip)
    sgd = torch.optim.SGD(groups(ref), lr=0.6, momentum=0.9, weight_decay=1e-2)
    ref_opt = ReferenceLARSWrapper(sgd, eta=0.02, clip=clip)
    torch.manual_seed(2)
    for _ in range(4):
        x = torch.randn(6, 3, 6, 6)
        for m, o in ((ours, opt), (ref, ref_opt)):
            o.optim.zero_grad() if o is ref_opt else o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for a, b in zip(ours.parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-6), (a - b).abs().max()
    assert [g['weight_decay'] for g in opt.param_groups] == [0., 1e-2, 1e-2]  # restored


def test_lars_exclude_group_takes_a_plain_step():
    p = torch.nn.Parameter(torch.ones(3, 3))
    p.grad = torch.full((3, 3), 5.)
    SoloLARS([dict(params=[p], lars_exclude=True)], lr=0.1, momentum=0.,
             weight_decay=0.5).step()
    assert torch.allclose(p, torch.full((3, 3), 1 - 0.1 * 5.))


def test_built_from_a_config_with_paramwise_keys():
    init_default_scope('mmselfsup')
    model = torch.nn.Module()
    model.gate = torch.nn.Conv2d(2, 2, 1)
    model.conv = torch.nn.Conv2d(2, 2, 1)
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='SoloLARS', lr=0.6, weight_decay=1e-4, eta=0.02),
        paramwise_cfg=dict(custom_keys={'gate': dict(decay_mult=0.)})))
    assert isinstance(wrapper.optimizer, SoloLARS)
    decays = {id(g['params'][0]): g['weight_decay'] for g in wrapper.optimizer.param_groups}
    assert decays[id(model.gate.weight)] == 0. and decays[id(model.conv.weight)] == 1e-4


@pytest.mark.parametrize('kwargs, match', [(dict(lr=0.), 'lr=0.0'), (dict(eta=-1.), 'eta=-1.0'),
                                           (dict(weight_decay=-1.), 'weight_decay=-1.0')])
def test_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SoloLARS([torch.nn.Parameter(torch.ones(1))], **{'lr': 0.1, **kwargs})


def test_warmup_cosine_is_pl_bolts_closed_form():
    p = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([p], lr=0.6)
    sched = LinearWarmupCosineLR(opt, warmup=10, total=500, warmup_start_lr=0.003)
    lrs = []
    for _ in range(500):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.003)
    assert lrs[1] == pytest.approx(0.003 + (0.6 - 0.003) / 9)  # reaches 0.6 at epoch 9
    assert lrs[9] == pytest.approx(0.6) and lrs[10] == pytest.approx(0.6)
    assert lrs[255] == pytest.approx(0.3)  # half way through the 490 cosine epochs
    assert lrs[499] == pytest.approx(0.3 * (1 + math.cos(math.pi * 489 / 490)))
    assert min(lrs) > 0


def test_warmup_cosine_from_config_and_bad_input():
    init_default_scope('mmselfsup')
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.6)
    sched = PARAM_SCHEDULERS.build(dict(type='LinearWarmupCosineLR', optimizer=opt, warmup=10,
                                        total=500, warmup_start_lr=0.003, by_epoch=True))
    assert sched.end == 500 and sched.by_epoch
    with pytest.raises(ValueError, match='warmup=500, total=500'):
        LinearWarmupCosineLR(opt, warmup=500, total=500)
