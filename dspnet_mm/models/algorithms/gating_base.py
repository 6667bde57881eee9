"""What the two gating algorithms share: a ``GatedResNet`` backbone and a sparsity loss."""
from typing import List, Optional, Union

from mmselfsup.models.algorithms.base import BaseModel

from dspnet_mm.registry import MODELS


class GatingAlgorithm(BaseModel):
    """mmselfsup's ``BaseModel`` whose backbone must be a ``GatedResNet`` (one with
    ``forward_gated``), plus ``sparsity_loss`` (a ``SparsityLoss`` config)."""

    def __init__(self, backbone: dict, neck: dict, head: dict, sparsity_loss: dict,
                 pretrained: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not hasattr(self.backbone, 'forward_gated'):
            raise TypeError(f'{type(self).__name__} needs a GatedResNet backbone, got '
                            f'{type(self.backbone).__name__}')
        self.sparsity_loss = MODELS.build(sparsity_loss)
