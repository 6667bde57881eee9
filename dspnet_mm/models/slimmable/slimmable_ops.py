"""Layers that run on a prefix slice of their full-width weights (how to slice, not which
layer). The full-width parameters keep the standard names (``weight``, ``bias``,
``running_mean``...), so a stock network reads the full-width checkpoint.

Each layer takes its active input width from the input tensor; the owning backbone sets the
active output width (``active_out_channels``) and, for BN, which desired network's private
statistics to use (``active_key``)."""
from typing import Mapping, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from dspnet_mm import compat
from ..utils.batch_norm import batch_norm


def prefix(t: torch.Tensor, *sizes: int) -> torch.Tensor:
    """``t[:sizes[0], :sizes[1], ...]`` as one view. A dimension kept whole costs nothing; one
    shrunk dimension is a ``narrow``; several (a conv weight cut in both channel dimensions)
    are a single ``as_strided`` view with ``t``'s strides, so that in training the full-size
    gradient is built once (one zero-fill and one copy on a GPU), not once per shrunk
    dimension (a ``slice_backward`` each, the first through an intermediate tensor).
    (Plain loops: this runs for every layer of every pass, where a GPU waits on the host.)"""
    shape = t.shape
    shrunk = None
    for d, n in enumerate(sizes):
        if n != shape[d]:
            if not 0 <= n <= shape[d]:
                raise ValueError(f'cannot take a prefix of size {tuple(sizes)} of a tensor of '
                                 f'shape {tuple(shape)}')
            if shrunk is not None:  # a second shrunk dimension
                new_shape = list(shape)
                new_shape[:len(sizes)] = sizes
                return t.as_strided(new_shape, t.stride(), t.storage_offset())
            shrunk = d
    return t if shrunk is None else t.narrow(shrunk, 0, sizes[shrunk])


class SlimmableConv2d(nn.Conv2d):
    """``nn.Conv2d`` that uses ``weight[:active_out_channels, :x.size(1)]`` (groups=1)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        assert self.groups == 1, 'SlimmableConv2d supports groups=1 only'
        self.active_out_channels: Optional[int] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_c = x.shape[1]
        out_c = self.active_out_channels or self.out_channels
        if in_c == self.in_channels and out_c == self.out_channels:
            return compat.conv_forward(self, x, self.weight, self.bias)
        if in_c > self.in_channels:
            raise ValueError(f'{self.__class__.__name__}: input has {in_c} channels, '
                             f'the layer has at most {self.in_channels}')
        bias = None if self.bias is None else prefix(self.bias, out_c)
        return compat.conv_forward(self, x, self._sliced_weight(out_c, in_c), bias)

    def _sliced_weight(self, out_c: int, in_c: int) -> torch.Tensor:
        """``weight[:out_c, :in_c]``. Without autograd (inference) the contiguous copy that
        convolution needs is cached per shape until the weight changes (its version counter
        moves on every in-place update, e.g. an optimizer step or ``load_state_dict``)."""
        weight = self.weight
        if weight.requires_grad and torch.is_grad_enabled():
            return prefix(weight, out_c, in_c)
        cache = self.__dict__.setdefault('_slice_cache', {})
        stamp = (compat.tensor_version(weight), weight.data_ptr())
        hit = cache.get((out_c, in_c))
        if hit is None or hit[0] != stamp:
            hit = cache[(out_c, in_c)] = (stamp, weight[:out_c, :in_c].contiguous())
        return hit[1]


class SlimmableLinear(nn.Linear):
    """``nn.Linear`` that reads the first ``x.size(-1)`` input features."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.active_out_features: Optional[int] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_f = x.size(-1)
        out_f = self.active_out_features or self.out_features
        if in_f > self.in_features:
            raise ValueError(f'{self.__class__.__name__}: input has {in_f} features, '
                             f'the layer has at most {self.in_features}')
        if in_f == self.in_features and out_f == self.out_features:
            return super().forward(x)
        bias = None if self.bias is None else prefix(self.bias, out_f)
        return F.linear(x, prefix(self.weight, out_f, in_f), bias)


class SwitchableBatchNorm2d(nn.BatchNorm2d):
    """Switchable BN (Slimmable Networks, Yu et al. 2018).

    The module's own parameters and statistics (standard names) belong to the full network and
    are shared, prefix-sliced, by any spec without private BN. Every named desired network with
    private BN has its own ``nn.BatchNorm2d`` in ``subnet_bns[name]``, selected by
    ``active_key``.

    Args:
        num_features: full width C.
        subnet_features: {desired-network name: its width at this layer}.
        sync: synchronise statistics across processes (SyncBN) when distributed on GPU.
    """

    def __init__(self, num_features: int, subnet_features: Mapping[str, int] = None,
                 eps: float = 1e-5, momentum: float = 0.1, sync: bool = False):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.sync = sync
        self.active_key: Optional[str] = None
        self.subnet_bns = nn.ModuleDict({
            name: nn.BatchNorm2d(c, eps=eps, momentum=momentum)
            for name, c in (subnet_features or {}).items()
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if self.active_key is not None:
            bn = self.subnet_bns[self.active_key]
            if c != bn.num_features:
                raise ValueError(f'BN of subnet {self.active_key!r} has {bn.num_features} '
                                 f'channels, input has {c}')
            return batch_norm(x, bn, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                              self.training, self.eps, self.sync)
        if c == self.num_features:
            return batch_norm(x, self, self.running_mean, self.running_var, self.weight,
                              self.bias, self.training, self.eps, self.sync)
        if c > self.num_features:
            raise ValueError(f'SwitchableBatchNorm2d: input has {c} channels, '
                             f'the layer has at most {self.num_features}')
        return batch_norm(x, self, prefix(self.running_mean, c), prefix(self.running_var, c),
                          prefix(self.weight, c), prefix(self.bias, c), self.training,
                          self.eps, self.sync)
