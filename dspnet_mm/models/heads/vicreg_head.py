"""VICRegHead: the VICReg loss between two projections, with its terms logged."""
from typing import Dict

import torch
from mmengine.model import BaseModule

from dspnet_mm.registry import MODELS


@MODELS.register_module()
class VICRegHead(BaseModule):
    """Applies a ``VICRegLoss`` config to two projections.

    Forward: z_a, z_b (N, D) -> ``dict(loss_vicreg, vicreg_inv, vicreg_var, vicreg_cov)``;
    only ``loss_vicreg`` enters the total loss (the others are logged, detached).
    """

    def __init__(self, loss: dict, init_cfg=None):
        super().__init__(init_cfg)
        self.loss = MODELS.build(loss)

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> Dict[str, torch.Tensor]:
        loss, terms = self.loss(z_a, z_b, return_terms=True)
        return dict(loss_vicreg=loss, vicreg_inv=terms['invariance'].detach(),
                    vicreg_var=terms['variance'].detach(),
                    vicreg_cov=terms['covariance'].detach())
