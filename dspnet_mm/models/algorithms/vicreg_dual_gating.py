"""VICReg-Dual-Gating: dynamic computation with a dense and a gated branch (BMVC 2023)."""
from typing import Dict, List

import torch

from dspnet_mm.registry import MODELS
from .gating_base import GatingAlgorithm


@MODELS.register_module()
class VICRegDualGating(GatingAlgorithm):
    """Krishna et al., "Unifying Synergies between Self-supervised Learning and Dynamic
    Computation" (BMVC 2023).

    View 1 goes through the gated branch of a ``GatedResNet``, view 2 through its dense branch
    (same convs, gates, stem and projector; separate BNs in the blocks). Total loss =
    VICReg(z_gated, z_dense) + sparsity loss of the gated pass's masks.

    Args:
        backbone: a ``GatedResNet`` config with ``dual_bn=True``.
        neck: the projector (shared by both branches).
        head: a ``VICRegHead`` config.
        sparsity_loss: a ``SparsityLoss`` config (``t_d``: fraction of FLOPs kept).
        pretrained, data_preprocessor, init_cfg: as mmselfsup's ``BaseModel``.
        symmetric: also run view 2 gated / view 1 dense and average both losses (our
            extension; off in the paper).
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, sparsity_loss: dict,
                 symmetric: bool = False, **kwargs) -> None:
        super().__init__(backbone, neck, head, sparsity_loss, **kwargs)
        self.symmetric = symmetric

    def extract_feat(self, inputs: List[torch.Tensor], gated: bool = False, **kwargs):
        return self.backbone(inputs[0], gated=gated)

    def loss(self, inputs: List[torch.Tensor], data_samples, **kwargs) -> Dict[str, torch.Tensor]:
        losses = self.gated_vs_dense(inputs[0], inputs[1])
        if self.symmetric:
            swapped = self.gated_vs_dense(inputs[1], inputs[0])
            losses = {k: (v + swapped[k]) / 2 for k, v in losses.items()}
        return losses

    def gated_vs_dense(self, gated_view: torch.Tensor,
                       dense_view: torch.Tensor) -> Dict[str, torch.Tensor]:
        feats, masks = self.backbone.forward_gated(gated_view)
        z_gated = self.neck(feats)[0]
        z_dense = self.neck(self.backbone(dense_view, gated=False))[0]
        losses = self.head(z_gated, z_dense)
        losses.update(self.sparsity_loss(masks, self.backbone.flops(gated_view.shape[1:])))
        return losses
