"""Sparsity loss of dynamic-gating VICReg: a FLOPs budget and per-layer density bounds."""
import math
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from dspnet_mm.registry import MODELS
from ..gating.gated_flops import GatedFlops


def flops_budget_loss(flops_kept: torch.Tensor, t_d: float) -> torch.Tensor:
    """(F_real / F_full - t_d)^2 with F_real / F_full averaged over the batch, (N,) -> ()."""
    return (flops_kept.mean() - t_d) ** 2


def density_bound_loss(densities: torch.Tensor, t_d: float, p: float) -> torch.Tensor:
    """mean_l [relu(p sqrt(t_d) - d_l)^2 + relu(d_l - (1 - p + p sqrt(t_d)))^2].

    Args:
        densities: (L,) mean mask density of each gated layer, d_l in [0, 1].
        t_d: the FLOPs budget (fraction kept).
        p: annealing factor, 1 at the start (bounds pinch to sqrt(t_d)), -> 0 (no bound).
    """
    lower = p * math.sqrt(t_d)
    upper = 1. - p + p * math.sqrt(t_d)
    return (F.relu(lower - densities) ** 2 + F.relu(densities - upper) ** 2).mean()


@MODELS.register_module()
class SparsityLoss(nn.Module):
    """``lambda_flops * flops_budget_loss + gamma_bound * density_bound_loss`` of a gated pass.

    Args:
        t_d: budget, the fraction of the dense network's FLOPs to keep (0.1 keeps 10%).
        lambda_flops: weight of the budget term (5 in the paper).
        gamma_bound: weight of the bound term (1 in the paper).

    The annealing factor ``p`` is a buffer (saved in checkpoints), set once per epoch by
    ``GateAnnealingHook`` to ``exp(-alpha * epoch)``; it starts at 1.

    Forward: the masks of a gated pass (one (N, C_mid) tensor per block) and the backbone's
    :class:`GatedFlops` table -> dict with ``loss_flops``, ``loss_bound`` and the logged
    (non-loss) values ``flops_kept`` (mean F_real / F_full) and ``gate_p``.
    """

    def __init__(self, t_d: float = 0.5, lambda_flops: float = 5., gamma_bound: float = 1.):
        super().__init__()
        if not 0. < t_d <= 1.:
            raise ValueError(f't_d={t_d!r} is the fraction of FLOPs kept; it must be in (0, 1]')
        self.t_d, self.lambda_flops, self.gamma_bound = t_d, lambda_flops, gamma_bound
        self.register_buffer('p', torch.tensor(1.))

    def set_p(self, p: float):
        self.p.fill_(p)

    def forward(self, masks: Sequence[torch.Tensor],
                flops: GatedFlops) -> Dict[str, torch.Tensor]:
        flops_kept = flops.kept(masks)
        densities = torch.stack([m.mean() for m in masks])
        return dict(
            loss_flops=self.lambda_flops * flops_budget_loss(flops_kept, self.t_d),
            loss_bound=self.gamma_bound * density_bound_loss(densities, self.t_d,
                                                             self.p.item()),
            flops_kept=flops_kept.detach().mean(),
            gate_p=self.p.detach().clone())
