"""VICReg-Gating: a single channel-gated stream ("Baseline-2" of the dynamic-gating paper)."""
from typing import Dict, List

import torch

from dspnet_mm.registry import MODELS
from .gating_base import GatingAlgorithm


@MODELS.register_module()
class VICRegGating(GatingAlgorithm):
    """VICReg with both views through the gated branch of a ``GatedResNet`` (Krishna et al.,
    "Dynamic Channel Selection in Self-Supervised Learning", IMVIP 2022).

    Total loss = VICReg(z1, z2) + sparsity loss of the masks of both views.

    Args:
        backbone: a ``GatedResNet`` config with ``dual_bn=False`` (one stream, one BN).
        neck: the projector.
        head: a ``VICRegHead`` config.
        sparsity_loss: a ``SparsityLoss`` config (``t_d``: fraction of FLOPs kept).
        pretrained, data_preprocessor, init_cfg: as mmselfsup's ``BaseModel``.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, sparsity_loss: dict,
                 **kwargs) -> None:
        super().__init__(backbone, neck, head, sparsity_loss, **kwargs)
        if self.backbone.dual_bn:
            raise ValueError('VICRegGating runs only the gated branch: build the GatedResNet '
                             'with dual_bn=False (dual BN is for VICRegDualGating)')

    def extract_feat(self, inputs: List[torch.Tensor], gated: bool = True, **kwargs):
        return self.backbone(inputs[0], gated=gated)

    def loss(self, inputs: List[torch.Tensor], data_samples, **kwargs) -> Dict[str, torch.Tensor]:
        feats1, masks1 = self.backbone.forward_gated(inputs[0])
        feats2, masks2 = self.backbone.forward_gated(inputs[1])
        losses = self.head(self.neck(feats1)[0], self.neck(feats2)[0])
        masks = [torch.cat(pair) for pair in zip(masks1, masks2)]
        losses.update(self.sparsity_loss(masks, self.backbone.flops(inputs[0].shape[1:])))
        return losses
