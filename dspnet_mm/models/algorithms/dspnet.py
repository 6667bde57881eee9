"""DSPNet: slimmable pretrained networks by discriminative self-supervised learning."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmselfsup.models.algorithms.base import BaseModel

from dspnet_mm import compat
from dspnet_mm.registry import MODELS
from ..slimmable.ema import TargetCosineEMA
from .sampling import SandwichSampler


@MODELS.register_module()
class DSPNet(BaseModel):
    """DSPNet (Wang et al., `arXiv 2207.06075 <https://arxiv.org/abs/2207.06075>`_).

    BYOL with a slimmable online network: every iteration trains several sub-networks (the
    largest and smallest desired networks plus random ones) on the same two views, each
    against the full-width EMA target, which acts as the teacher of all of them.

    Args:
        backbone: a ``SlimmableResNet`` config with its named desired networks (``subnets``).
        neck: the projector; a ``SlimmableNonLinearNeck`` (slimmable input, otherwise shared).
        head: a ``LatentPredictHead`` config; the full network's head is BYOL's predictor and
            every other DN gets its own copy (distillation head, ``dn_heads[name]``).
        base_momentum: EMA momentum of the target (cosine-annealed to 1, as mmselfsup's
            ``CosineEMA``; the DNs' private BNs, which the target never runs, are skipped).
        num_random: sub-networks sampled per iteration besides the largest and smallest.
        sample_space: 'dn' (random DNs) or 'continuous' (random specs, shared BN; re-calibrate
            BN after training with ``recalibrate_bn``).
        inplace_distill: smaller sub-networks also regress the full online network's detached
            prediction of the same view, with weight ``distill_weight``.
        sample_seed: seed of the per-iteration sub-network draw.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, base_momentum: float = 0.99,
                 num_random: int = 2, sample_space: str = 'dn', min_width: float = 0.25,
                 inplace_distill: bool = False, distill_weight: float = 1.0,
                 sample_seed: int = 0, pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not hasattr(self.backbone, 'set_subnet'):
            raise TypeError(f'DSPNet needs a SlimmableResNet backbone, got '
                            f'{type(self.backbone).__name__}')
        # desired networks from largest to smallest FLOPs; the full one uses BYOL's head
        flops = {n: self.backbone.complexity(n, 64)['flops'] for n in self.backbone.subnets}
        self.dn_names = sorted(flops, key=flops.get, reverse=True)
        self.full_names = [n for n in self.dn_names
                           if self.backbone.subnets[n] == self.backbone.full_spec]
        self.dn_heads = nn.ModuleDict({n: MODELS.build(head) for n in self.dn_names
                                       if n not in self.full_names})
        self.sampler = SandwichSampler(self.dn_names, num_random, sample_space,
                                       self.backbone.max_depths, min_width, sample_seed)
        self.inplace_distill, self.distill_weight = inplace_distill, distill_weight
        # the target is the full network (its standard-key BN), averaged from the online one
        with compat.quiet_log(compat.EMA_MOMENTUM_WARNING):  # mmselfsup's convention
            self.target_net = TargetCosineEMA(nn.Sequential(self.backbone, self.neck),
                                              momentum=base_momentum)
        self.target_net.module[0].set_subnet(None)

    def head_of(self, subnet) -> nn.Module:
        return self.dn_heads[subnet] if isinstance(subnet, str) and \
            subnet in self.dn_heads else self.head

    def extract_feat(self, inputs: List[torch.Tensor], subnet=None, **kwargs):
        with self.backbone.set_subnet(subnet):
            return self.backbone(inputs[0])

    def loss(self, inputs: List[torch.Tensor], data_samples, **kwargs) -> Dict[str, torch.Tensor]:
        img_v1, img_v2 = inputs[0], inputs[1]
        # target projections: computed once per view, shared by every sub-network
        with torch.no_grad():
            self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))
            target_v1 = self.target_net(img_v1)[0].float()
            target_v2 = self.target_net(img_v2)[0].float()

        losses, teacher = {}, None
        for subnet in self.sampler.sample():
            head = self.head_of(subnet)
            with self.backbone.set_subnet(subnet):
                pred_v1 = head.predictor(self.neck(self.backbone(img_v1)))[0]
                pred_v2 = head.predictor(self.neck(self.backbone(img_v2)))[0]
            name = subnet if isinstance(subnet, str) else _spec_name(subnet)
            # the cosine loss in fp32 under bf16 autocast (CPU autocast keeps normalise and
            # sum in the input's dtype; CUDA's runs them in fp32); a no-op in fp32 training
            pred_v1, pred_v2 = pred_v1.float(), pred_v2.float()
            losses[f'loss_{name}'] = 2. * (head.loss(pred_v1, target_v2) +
                                           head.loss(pred_v2, target_v1))
            if self.inplace_distill:
                if teacher is None:  # the largest DN comes first
                    teacher = (pred_v1.detach(), pred_v2.detach())
                else:
                    losses[f'loss_distill_{name}'] = self.distill_weight * 2. * (
                        head.loss(pred_v1, teacher[0]) + head.loss(pred_v2, teacher[1]))
        # mmengine's parse_losses sums every 'loss*' entry into the total 'loss'
        return losses


def _spec_name(spec) -> str:
    return 'w' + '_'.join(f'{w:.2f}' for w in spec.widths) + '_d' + ''.join(
        map(str, spec.depths))
