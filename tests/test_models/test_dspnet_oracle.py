"""DSPNet's step against independent references: mmselfsup's own BYOL, the BYOL formula
written out, and the sandwich rule."""
import random

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS

from test_dspnet import CFG, build_model, views

BASE = Config.fromfile(CFG).model


def test_one_dn_dspnet_equals_mmselfsup_byol():
    """With one desired network (the full one), DSPNet is BYOL: mmselfsup's BYOL with the
    same weights gives the same loss, the same gradients and the same EMA target."""
    backbone = dict(BASE.backbone, subnets=dict(r18_w1=dict(widths=1.0)))
    model = build_model(backbone=backbone)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        byol = MODELS.build(dict(type='BYOL', backbone=backbone, neck=BASE.neck,
                                 head=BASE.head, base_momentum=BASE.base_momentum))
    for name in ('backbone', 'neck', 'head', 'target_net'):
        getattr(byol, name).load_state_dict(getattr(model, name).state_dict())
    model.train(), byol.train()
    v = views()
    ours, theirs = model.loss(v, None), byol.loss(v, None)
    assert list(ours) == ['loss_r18_w1']
    torch.testing.assert_close(ours['loss_r18_w1'], theirs['loss'], rtol=0, atol=1e-6)
    ours['loss_r18_w1'].backward()
    theirs['loss'].backward()
    for module in ('backbone', 'neck', 'head'):
        pairs = zip(getattr(model, module).named_parameters(),
                    getattr(byol, module).named_parameters())
        for (name, p), (_, q) in pairs:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-7, msg=name)
    for p, q in zip(model.target_net.parameters(), byol.target_net.parameters()):
        assert torch.equal(p, q)  # the same EMA update


def byol_formula(pred_v1, pred_v2, target_v1, target_v2):
    """BYOL's symmetrised loss as mmselfsup scales it: 2 * (-cos(p1, z'2) - cos(p2, z'1)),
    each term averaged over the batch."""
    return 2 * (-F.cosine_similarity(pred_v1, target_v2).mean()
                - F.cosine_similarity(pred_v2, target_v1).mean())


def test_every_dn_entry_is_byol_against_the_shared_full_target():
    model = build_model(num_random=2)
    model.train()
    calls = []
    model.target_net.module.register_forward_hook(lambda *a: calls.append(1))
    v = views(n=6)
    losses = model.loss(v, None)
    assert len(losses) == 4 and len(calls) == 2  # 4 DNs, the target once per view
    with torch.no_grad():  # the references, from the modules as they are after the step
        t1, t2 = (model.target_net(x)[0] for x in v)
        model.target_net.module[0].set_subnet(None)
        for key, value in losses.items():
            name = key[len('loss_'):]
            head = model.head if name == 'r18_w1' else model.dn_heads[name]
            with model.backbone.set_subnet(name):
                p1, p2 = (head.predictor(model.neck(model.backbone(x)))[0] for x in v)
            torch.testing.assert_close(value, byol_formula(p1, p2, t1, t2), rtol=0, atol=1e-5,
                                       msg=key)
            # a DN predicting its own view's target would give another number
            assert (byol_formula(p1, p2, t2, t1) - value).abs() > 1e-3, key


def test_sandwich_draws_follow_the_rule():
    """Iteration i trains [largest, smallest] + ``num_random`` distinct others drawn by
    ``random.Random(seed * 1_000_003 + i)``: the same on every rank and after a resume, each
    other DN equally often."""
    model = build_model(num_random=2, sample_seed=5)
    names = model.dn_names
    counts = dict.fromkeys(names[1:-1], 0)
    for it in range(600):
        model.sampler._iteration = lambda it=it: it
        draw = model.sampler.sample()
        expected = [names[0], names[-1]] + random.Random(5 * 1_000_003 + it).sample(
            names[1:-1], 2)
        assert draw == expected
        for n in draw[2:]:
            counts[n] += 1
    assert all(abs(c - 400) < 60 for c in counts.values()), counts  # 600 * 2/3 each
