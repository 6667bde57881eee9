"""Gathering embeddings across processes with gradients (for batch statistics under DDP)."""
import torch
import torch.distributed as dist


class FullGatherLayer(torch.autograd.Function):
    """All-gather whose backward all-reduces the gradients (as the official VICReg code):
    every rank's loss depends on every rank's embeddings, so each rank's embeddings receive the
    sum of the gradients of all ranks' losses. (mmselfsup's ``GatherLayer`` keeps only the local
    rank's gradient, which scales the variance/covariance gradients by 1/world_size.)"""

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        output = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(output, x)
        return tuple(output)

    @staticmethod
    def backward(ctx, *grads):
        all_gradients = torch.stack(grads)
        dist.all_reduce(all_gradients)
        return all_gradients[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(N, D) on each of W ranks -> (W * N, D) in rank order; a no-op on a single process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return torch.cat(FullGatherLayer.apply(x.contiguous()), dim=0)
