"""The momentum (EMA) target of DSPNet, updated only where the target reads it."""
from math import cos, pi
from typing import Callable, List, Tuple

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
        if self.steps == 0:  # the first step copies everything, as CosineEMA does
            src = dict(model.named_parameters())
            for k, p_avg in self.avg_parameters.items():
                p_avg.data.copy_(src[k].data)
        elif self.steps % self.interval == 0:
            m = self.current_momentum()
            avg = _read(self._slots('target', self.module, '_parameters', self._names))
            new = _read(self._slots('source', model, '_parameters', self._names))
            if avg and new[0].device != avg[0].device:  # the average kept on another device
                new = [t.to(avg[0].device) for t in new]
            torch._foreach_mul_(avg, m)
            torch._foreach_add_(avg, new, alpha=1 - m)
        dst = _read(self._slots('target', self.module, '_buffers', self._buffer_names))
        src_buffers = _read(self._slots('source', model, '_buffers', self._buffer_names))
        if dst and src_buffers[0].device != dst[0].device:
            src_buffers = [t.to(dst[0].device) for t in src_buffers]
        torch._foreach_copy_(dst, src_buffers)
        self.steps += 1

    def _slots(self, role: str, model: nn.Module, kind: str,
               names: List[str]) -> List[Tuple[dict, str]]:
        """(owning module's ``_parameters`` or ``_buffers`` dict, key) of each name, kept while
        ``model``'s children are the same objects (DSPNet wraps its backbone and neck in a new
        ``nn.Sequential`` every step). Read through these dicts, each step sees the tensors the
        modules hold now (``.to()`` replaces buffers) without walking every module: the
        supernet has a BN per DN in every layer, and on a GPU that walk is host time the
        kernels wait for."""
        cache = self.__dict__.setdefault('_slot_cache', {})
        owners = list(model.children()) or [model]
        key = (role, kind)
        hit = cache.get(key)
        if hit is None or len(hit[0]) != len(owners) or any(
                a is not b for a, b in zip(hit[0], owners)):
            slots = []
            for name in names:
                path, _, leaf = name.rpartition('.')
                slots.append((getattr(model.get_submodule(path), kind), leaf))
            hit = cache[key] = (owners, slots)
        return hit[1]


def _read(slots: List[Tuple[dict, str]]) -> List[torch.Tensor]:
    return [owner[leaf] for owner, leaf in slots]
