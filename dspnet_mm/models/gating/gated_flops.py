"""FLOPs of a channel-gated ResNet, per image, from its gate masks, in one of two conventions.

- ``'reference'``: as the dynamic-gating reference code counts (KrishnaTarun/Unification,
  ``solo/methods/ResCg/resnet_gating.py``: ``BasicBlock.flops_*``, ``get_flops``,
  ``ResDG.flops_conv1``; ``mask.py`` ``Mask_c.get_flops``): conv multiply-accumulates only
  (C_out * C_in/groups * k_h * k_w * H_out * W_out), BN/ReLU/pooling/additions free; a gate
  costs its two 1x1 convs, ``C_in * C_in/4 + C_in/4 * C_mid``, added to the gated count only.
  This is what the paper's FLOPs and "FLOPs R." are (CIFAR ResNet-18: 703,560,448 dense).
- ``'mmengine'``: mmengine's conventions (``dspnet_mm.models.utils.flops.complexity``) -- the
  conv count above plus 2 per element for an eval-mode affine BN and 1 per input element for
  an adaptive average pool (the gates' pooling and BN included), a fuller count of the work.

One table per input size says what each active channel of each gated block costs, so
``F_real`` of any mask set is a linear (and differentiable) function."""
from dataclasses import dataclass
from typing import Sequence, Tuple

FLOPS_CONVENTIONS = ('reference', 'mmengine')

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


@dataclass(frozen=True)
class GatedFlops:
    """FLOPs accounting of a gated ResNet on one image of ``input_shape`` (C, H, W).

    Attributes:
        dense: F_full, the dense network (no gates).
        ungated: the part of ``dense`` no gate can remove (stem, shortcuts, BNs and convs
            outside the gated channels).
        gates: the gates' own cost (paid by the gated branch only).
        channel_flops: per gated block, the FLOPs of one active middle channel (its conv1
            filter, its BN, its slice of conv2's input).
        channels: per gated block, the number of gated channels C_mid.
        convention: ``'reference'`` or ``'mmengine'`` (what was counted, see above).
    """
    input_shape: Tuple[int, int, int]
    dense: int
    ungated: int
    gates: int
    channel_flops: Tuple[int, ...]
    channels: Tuple[int, ...]
    convention: str = 'mmengine'

    @property
    def all_off(self) -> int:
        """F_real of an all-zeros mask: the ungated part plus the gates."""
        return self.ungated + self.gates

    def per_image(self, masks: Sequence[torch.Tensor]) -> torch.Tensor:
        """F_real of each image: (N,) float64, differentiable w.r.t. the masks.

        Args:
            masks: one (N, C_mid) 0./1. tensor per gated block, in forward order.
        """
        if len(masks) != len(self.channels):
            raise ValueError(f'expected {len(self.channels)} masks (one per gated block), '
                             f'got {len(masks)}')
        total = masks[0].new_full((masks[0].size(0), ), float(self.all_off),
                                  dtype=torch.float64)
        for mask, per_channel, c in zip(masks, self.channel_flops, self.channels):
            if mask.size(1) != c:
                raise ValueError(f'a mask has {mask.size(1)} channels, its block {c}')
            total = total + mask.to(torch.float64).sum(1) * per_channel
        return total

    def kept(self, masks: Sequence[torch.Tensor]) -> torch.Tensor:
        """F_real / F_full of each image, (N,) in the masks' dtype. Its batch mean is the
        reference's ``flops_real / flops_ori`` (``spar_loss``); 1 - that mean is "FLOPs R."."""
        return (self.per_image(masks) / self.dense).to(masks[0].dtype)


@torch.no_grad()
def count_gated_flops(backbone: nn.Module, input_shape: Sequence[int],
                      convention: str = 'mmengine') -> GatedFlops:
    """Build the :class:`GatedFlops` table of a ``GatedResNet`` by running its dense branch
    once on a zero image and recording the output size of every conv (and BN).

    Args:
        backbone: a ``GatedResNet``.
        input_shape: (C, H, W) of one image.
        convention: ``'reference'`` (conv MACs + the gates' 1x1 convs) or ``'mmengine'``
            (also BN and pooling), see the module docstring.
    """
    if convention not in FLOPS_CONVENTIONS:
        raise ValueError(f'FLOPs convention {convention!r}: choose one of {FLOPS_CONVENTIONS}')
    count_bn = convention == 'mmengine'
    flops, block_input = {}, {}

    def conv_hook(m, inputs, out):
        kh, kw = m.kernel_size
        flops[m] = out.size(1) * (m.in_channels // m.groups) * kh * kw * out[0, 0].numel()

    def bn_hook(m, inputs, out):
        flops[m] = (2 if m.affine else 1) * out[0].numel()

    def block_hook(m, inputs):
        block_input[m] = tuple(inputs[0].shape[2:])

    blocks = backbone.gated_blocks
    gates = {id(m) for blk in blocks for m in blk.gate.modules()}
    handles = [blk.register_forward_pre_hook(block_hook) for blk in blocks]
    for m in backbone.modules():
        if id(m) in gates:
            continue
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, _BatchNorm) and count_bn:
            handles.append(m.register_forward_hook(bn_hook))
    was_training = backbone.training
    backbone.eval()
    try:
        backbone(torch.zeros(1, *input_shape, device=_device_of(backbone)), gated=False)
    finally:
        for h in handles:
            h.remove()
        backbone.train(was_training)

    dense = sum(flops.values())
    channel_flops, channels, gate_flops = [], [], 0
    for blk in blocks:
        c = blk.conv1.out_channels
        gated_part = flops[blk.conv1] + flops.get(blk.bn1, 0) + flops[blk.conv2]
        assert gated_part % c == 0, 'every gated FLOP scales with the active channels'
        channel_flops.append(gated_part // c)
        channels.append(c)
        gate_flops += (blk.gate.flops(*block_input[blk]) if count_bn
                       else blk.gate.reference_flops())
    ungated = dense - sum(f * c for f, c in zip(channel_flops, channels))
    return GatedFlops(tuple(int(s) for s in input_shape), dense, ungated, gate_flops,
                      tuple(channel_flops), tuple(channels), convention)


def _device_of(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device('cpu')
