"""VICReg loss (Bardes, Ponce, LeCun, ICLR 2022): invariance, variance, covariance."""
from typing import Dict, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from dspnet_mm.registry import MODELS
from ..utils.gather import gather_with_grad


def variance_term(z: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """v(z) = mean_j relu(1 - sqrt(Var(z_j) + eps)), z: (N, D), unbiased variance."""
    return F.relu(1. - torch.sqrt(z.var(dim=0) + eps)).mean()


def covariance_term(z: torch.Tensor) -> torch.Tensor:
    """c(z) = sum of squared off-diagonal entries of Cov(z) / D, z: (N, D)."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / (n - 1)
    off_diagonal = cov - torch.diag(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / d


@MODELS.register_module()
class VICRegLoss(nn.Module):
    """``lambda_inv * MSE(z_a, z_b) + mu * (v(z_a) + v(z_b)) / 2 + nu * (c(z_a) + c(z_b))``.

    Args:
        lambda_inv, mu, nu: the paper's coefficients (25, 25, 1).
        eps: added to the variance before the square root.
        gather: under DDP, compute the variance and covariance terms on the embeddings of
            all ranks (the invariance term stays local, DDP averages it), as the official
            VICReg code does. False computes them on each GPU's own batch, as solo-learn
            (and so the dynamic-gating reference code) does.
        average_variance: ``(v(z_a) + v(z_b)) / 2`` as the official VICReg code (True), or
            ``v(z_a) + v(z_b)`` as solo-learn's ``variance_loss`` (False; twice the weight
            of the variance term at the same ``mu``).

    Forward: z_a, z_b (N, D) -> scalar loss, or (loss, dict of the three unweighted terms)
    with ``return_terms=True``.
    """

    def __init__(self, lambda_inv: float = 25., mu: float = 25., nu: float = 1.,
                 eps: float = 1e-4, gather: bool = True, average_variance: bool = True):
        super().__init__()
        self.lambda_inv, self.mu, self.nu, self.eps = lambda_inv, mu, nu, eps
        self.gather, self.average_variance = gather, average_variance

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor, return_terms: bool = False
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, Dict[str, torch.Tensor]]]:
        invariance = F.mse_loss(z_a, z_b)
        if self.gather:
            z_a, z_b = gather_with_grad(z_a), gather_with_grad(z_b)
        variance = variance_term(z_a, self.eps) + variance_term(z_b, self.eps)
        if self.average_variance:
            variance = variance / 2
        covariance = covariance_term(z_a) + covariance_term(z_b)
        loss = self.lambda_inv * invariance + self.mu * variance + self.nu * covariance
        if return_terms:
            return loss, dict(invariance=invariance, variance=variance, covariance=covariance)
        return loss
