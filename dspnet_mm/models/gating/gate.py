"""ChannelGate: the per-block channel gate of dynamic-gating VICReg (DGNet's channel gate).

The gate reads a residual block's input and decides, per image, which of the block's middle
channels are computed. Training uses a binary-concrete relaxation with a straight-through
estimator: the forward value is the hard 0/1 decision, the gradient is that of the soft one."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer


def straight_through_binary_concrete(logits: torch.Tensor, tau: float = 2 / 3,
                                     noise: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Hard 0/1 sample whose gradient is that of ``sigmoid((logits + noise) / tau)``.

    Args:
        logits: any shape.
        tau: temperature of the relaxation (2/3 in the paper).
        noise: logistic noise ``log(u) - log(1 - u)``, ``u ~ U(0, 1)``, of the shape of
            ``logits``; drawn here when None (given explicitly by tests).

    Returns:
        A tensor of the shape of ``logits`` holding exactly 0. or 1. (``soft >= 0.5``).
    """
    if noise is None:
        u = torch.rand_like(logits).clamp_(1e-6, 1 - 1e-6)
        noise = torch.log(u) - torch.log1p(-u)
    return _StraightThroughThreshold.apply(torch.sigmoid((logits + noise) / tau))


class _StraightThroughThreshold(torch.autograd.Function):
    """Forward ``soft >= 0.5`` as exact 0./1.; backward the incoming gradient unchanged (the
    usual ``hard + soft - soft.detach()`` rounds 1 to 0.99999994 in float32)."""

    @staticmethod
    def forward(ctx, soft):
        return (soft >= 0.5).to(soft.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ChannelGate(nn.Module):
    """GAP -> 1x1 conv (C_in -> C_in/reduction, no bias) -> BN -> ReLU -> 1x1 conv -> logits.

    Args:
        in_channels: channels of the block input the gate reads (C_in).
        out_channels: channels it gates (C_mid of the block).
        reduction: hidden width is ``max(1, in_channels // reduction)``.
        tau: temperature of the binary-concrete relaxation used in training.
        norm_cfg: the gate's BN (``dict(type='SyncBN')`` as the reference's
            ``--sync_batchnorm`` converts it; plain BN by default).

    Forward: ``x`` (N, C_in, H, W) -> mask (N, C_mid) of 0./1. In training the mask is a
    noisy straight-through sample; in eval it is ``logits >= 0`` (deterministic).
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 4,
                 tau: float = 2 / 3, norm_cfg: Optional[dict] = None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.hidden_channels = max(1, in_channels // reduction)
        self.tau = tau
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(in_channels, self.hidden_channels, 1, bias=False)
        self.bn = build_norm_layer(norm_cfg or dict(type='BN'), self.hidden_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(self.hidden_channels, out_channels, 1, bias=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_mid) decision logits."""
        return self.expand(self.relu(self.bn(self.reduce(self.pool(x))))).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x)
        if self.training:
            return straight_through_binary_concrete(logits, self.tau)
        return (logits >= 0).to(logits.dtype)

    def flops(self, height: int, width: int) -> int:
        """Multiply-accumulates of one gate on one image of the block input size (counted as
        mmengine does: pool = input elements, BN in eval = 2 per element)."""
        c, h = self.in_channels, self.hidden_channels
        return c * height * width + c * h + 2 * h + h * self.out_channels

    def reference_flops(self) -> int:
        """Multiply-accumulates of the gate as the reference code counts them
        (``Mask_c.get_flops``: the two 1x1 convs only, ``C_in * C_in/4 + C_in/4 * C_mid``)."""
        return self.in_channels * self.hidden_channels + self.hidden_channels * self.out_channels
