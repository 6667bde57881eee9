"""DSPNet's target EMA: exactly mmselfsup's CosineEMA on what the target reads, nothing else."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmselfsup.models.utils import CosineEMA

from conftest import randomize_bn
from dspnet_mm.models import SlimmableResNet
from dspnet_mm.models.slimmable.ema import TargetCosineEMA


def test_matches_cosine_ema_bit_for_bit_and_skips_private_bns():
    MessageHub.get_current_instance().update_info('max_iters', 50)
    torch.manual_seed(0)
    online = nn.Sequential(SlimmableResNet(18, stem_channels=8, base_channels=8,
                                           small_input=True,
                                           subnets=dict(a=dict(widths=0.5),
                                                        b=dict(widths=0.25))))
    randomize_bn(online)
    ours = TargetCosineEMA(online, momentum=0.9)
    theirs = CosineEMA(copy.deepcopy(online), momentum=0.9)
    assert any('.subnet_bns.' in k for k in ours.module.state_dict())  # private BNs exist
    private = {}
    for step in range(6):
        with torch.no_grad():  # an optimizer step and BN statistics that move
            for p in online.parameters():
                p.add_(torch.randn_like(p) * 0.1)
            for name, b in online.named_buffers():
                if b.dtype.is_floating_point:
                    b.add_(0.05 * (step + 1))
        ours.update_parameters(online)
        theirs.update_parameters(online)
        mine, ref = ours.module.state_dict(), theirs.module.state_dict()
        for k, v in mine.items():
            if '.subnet_bns.' not in k:
                assert torch.equal(v, ref[k]), (step, k)
            elif step == 0:  # the first step copies everything
                private[k] = v.clone()
            else:  # never touched again: the target does not run them
                assert torch.equal(v, private[k]), (step, k)
                assert not v.is_floating_point() or not torch.equal(v, ref[k]), (step, k)
    assert ours.steps == theirs.steps == 6


def test_buffers_are_not_averaged():
    with pytest.raises(ValueError, match='update_buffers=False'):
        TargetCosineEMA(nn.BatchNorm2d(3), update_buffers=True)


def test_follows_replaced_tensors_and_a_new_source_model():
    """The EMA keeps where each tensor lives, not the tensors: a buffer replaced (as ``.to()``
    does) and a different source model are both read afresh."""
    MessageHub.get_current_instance().update_info('max_iters', 50)
    torch.manual_seed(0)
    online = nn.Sequential(SlimmableResNet(18, stem_channels=8, base_channels=8,
                                           small_input=True, subnets=dict(a=dict(widths=0.5))))
    ema = TargetCosineEMA(online, momentum=0.9)
    for _ in range(2):
        ema.update_parameters(online)
    bn = online[0].bn1
    bn.running_mean = torch.full_like(bn.running_mean, 7.)
    ema.update_parameters(online)
    assert torch.equal(ema.module[0].bn1.running_mean, bn.running_mean)
    other = copy.deepcopy(online)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.)
    prev, m = ema.module[0].conv1.weight.clone(), ema.current_momentum()
    ema.update_parameters(other)
    expected = prev.mul(m).add_(other[0].conv1.weight, alpha=1 - m)
    assert torch.equal(ema.module[0].conv1.weight, expected)
    # and switching back to the first model reads its tensors again
    prev, m = ema.module[0].conv1.weight.clone(), ema.current_momentum()
    ema.update_parameters(online)
    assert torch.equal(ema.module[0].conv1.weight,
                       prev.mul(m).add_(online[0].conv1.weight, alpha=1 - m))


def test_update_does_not_walk_the_modules():
    from dspnet_mm.apis.benchmark import python_calls
    MessageHub.get_current_instance().update_info('max_iters', 50)
    online = nn.Sequential(SlimmableResNet(18, stem_channels=8, base_channels=8,
                                           small_input=True,
                                           subnets={f'w{i}': dict(widths=0.25 * i)
                                                    for i in (1, 2, 3)}))
    ema = TargetCosineEMA(online, momentum=0.9)
    ema.update_parameters(online)
    # about a hundred calls, not a walk over every module (a BN per DN in every layer):
    # 9584 calls before
    assert python_calls(lambda: ema.update_parameters(online)) < 150
