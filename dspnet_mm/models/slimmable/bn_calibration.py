"""BN re-calibration for specs without private BN (US-Nets' post-statistics)."""
from typing import Iterable

import torch
from torch.nn.modules.batchnorm import _BatchNorm


@torch.no_grad()
def recalibrate_bn(backbone, subnet, batches: Iterable[torch.Tensor], num_batches: int = 100):
    """Recompute, in place, the BN statistics that ``subnet`` uses in ``backbone`` as the plain
    average over ``num_batches`` batches of images (N, C, H, W).

    Every BN statistic of ``backbone`` is reset first (specs without private BN share a slice of
    the full network's statistics): re-calibrate a copy, ``copy.deepcopy(backbone)``, then
    slim or evaluate ``subnet`` from that copy."""
    with backbone.set_subnet(subnet):
        bns = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
        saved = [(m.momentum, m.training) for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average
            m.train()
        seen = 0
        for images in batches:
            if seen >= num_batches:
                break
            backbone(images)
            seen += 1
        for m, (momentum, training) in zip(bns, saved):
            m.momentum = momentum
            m.train(training)
    if seen == 0:
        raise ValueError('recalibrate_bn got no batches: the dataloader is empty')
    return seen
