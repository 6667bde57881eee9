"""VICReg: the dense baseline ("Baseline-1" of the dynamic-gating paper)."""
from typing import Dict, List, Optional, Union

import torch
from mmselfsup.models.algorithms.base import BaseModel

from dspnet_mm.registry import MODELS


@MODELS.register_module()
class VICReg(BaseModel):
    """VICReg (Bardes, Ponce, LeCun, `ICLR 2022 <https://arxiv.org/abs/2105.04906>`_).

    Both views go through the same backbone and projector; the head applies the VICReg loss
    (invariance + variance + covariance) to the two projections.

    Args:
        backbone: any backbone config (e.g. ``mmcls.ResNet`` / ``mmcls.ResNet_CIFAR``).
        neck: the projector, e.g. a 3-layer ``NonLinearNeck`` (2048-2048-2048 for ResNet-18).
        head: a ``VICRegHead`` config.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)

    def extract_feat(self, inputs: List[torch.Tensor], **kwargs):
        return self.backbone(inputs[0])

    def loss(self, inputs: List[torch.Tensor], data_samples, **kwargs) -> Dict[str, torch.Tensor]:
        z1 = self.neck(self.backbone(inputs[0]))[0]
        z2 = self.neck(self.backbone(inputs[1]))[0]
        return self.head(z1, z2)
