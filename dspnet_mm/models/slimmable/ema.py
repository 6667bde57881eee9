"""The momentum (EMA) target of DSPNet, updated only where the target reads it."""
from math import cos, pi
from typing import Callable

import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmselfsup.models.utils import CosineEMA


def is_private_bn(name: str) -> bool:
    """Tensors of a DN's private BN (``bn1.subnet_bns.r18_w05.weight``): the full-width target
    never runs them."""
    return '.subnet_bns.' in name


class TargetCosineEMA(CosineEMA):
    """mmselfsup's ``CosineEMA`` (same cosine momentum, same update
    ``avg = m * avg + (1 - m) * src``) that skips the tensors ``skip(name)`` selects and updates
    the others with fused multi-tensor ops (``torch._foreach_*``): one launch per op instead of
    one per tensor on a GPU. The tensors it updates get exactly the values ``CosineEMA`` gives
    (the same two operations on each element); the skipped ones keep their first copy.
    """

    def __init__(self, model: nn.Module, momentum: float = 0.996, end_momentum: float = 1.,
                 skip: Callable[[str], bool] = is_private_bn, **kwargs):
        super().__init__(model, momentum=momentum, end_momentum=end_momentum, **kwargs)
        if self.update_buffers:
            raise ValueError('TargetCosineEMA averages parameters and copies buffers '
                             '(update_buffers=False), as CosineEMA does by default')
        self.skip = skip
        self._names = [k for k, v in self.avg_parameters.items()
                       if not skip(k) and v.dtype.is_floating_point]
        self._buffer_names = [k for k, _ in self.module.named_buffers() if not skip(k)]

    def current_momentum(self) -> float:
        """The cosine-annealed momentum of this step (``CosineEMA.avg_func``'s formula)."""
        max_iters = MessageHub.get_current_instance().get_info('max_iters')
        return self.end_momentum - (self.end_momentum - self.momentum) * (
            cos(pi * self.steps / float(max_iters)) + 1) / 2

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        src = dict(model.named_parameters())
        if self.steps == 0:  # the first step copies everything, as CosineEMA does
            for k, p_avg in self.avg_parameters.items():
                p_avg.data.copy_(src[k].data)
        elif self.steps % self.interval == 0:
            m = self.current_momentum()
            avg = [self.avg_parameters[k].data for k in self._names]
            new = [src[k].data.to(a.device) for k, a in zip(self._names, avg)]
            torch._foreach_mul_(avg, m)
            torch._foreach_add_(avg, new, alpha=1 - m)
        buffers = dict(model.named_buffers())
        own = dict(self.module.named_buffers())
        dst = [own[k].data for k in self._buffer_names]
        torch._foreach_copy_(dst, [buffers[k].data.to(d.device)
                                   for k, d in zip(self._buffer_names, dst)])
        self.steps += 1
