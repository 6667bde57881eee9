"""One batch-norm call for the BNs that keep several sets of statistics (switchable BN of the
slimmable network, dual BN of the gated network)."""
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from dspnet_mm import compat


def batch_norm(x: torch.Tensor, owner: nn.BatchNorm2d, running_mean: torch.Tensor,
               running_var: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
               training: bool, eps: float, sync: bool) -> torch.Tensor:
    """``F.batch_norm`` with ``nn.BatchNorm2d``'s momentum bookkeeping on the statistics of
    ``owner`` (its ``momentum`` and ``num_batches_tracked``) and, with ``sync``, statistics
    synchronised across processes (SyncBN) when training distributed on GPUs. The tensors may be
    prefix slices of ``owner``'s."""
    momentum = 0.0 if owner.momentum is None else owner.momentum
    if training:
        owner.num_batches_tracked.add_(1)
        if owner.momentum is None:
            momentum = 1.0 / float(owner.num_batches_tracked)
    if (sync and training and x.is_cuda and dist.is_available() and dist.is_initialized()
            and dist.get_world_size() > 1):
        return compat.sync_batch_norm_function().apply(
            x, weight, bias, running_mean, running_var, eps, momentum, dist.group.WORLD,
            dist.get_world_size())
    return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
