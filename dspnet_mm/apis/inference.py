"""Inference replayed as a CUDA graph: one launch for the whole network instead of one per
kernel, for a network that is bound by the host launching kernels (a ResNet at small batch on
a fast GPU). Any path without host synchronisation can be captured, e.g. a GatedResNet's
gated branch computed as dense x mask (what it runs on CUDA); the sparse path cannot (its
shapes depend on the masks)."""
from typing import Any, Optional

import torch
import torch.nn as nn
from torch.utils._pytree import tree_map


class CudaGraphed:
    """``module(x)`` under ``torch.no_grad()`` for inputs of one shape, dtype and device,
    captured once as a CUDA graph and replayed on every call.

    Args:
        module: the network, on a CUDA device, in the mode it should run (usually eval).
        example: an input of the shape, dtype and device every call will have.
        warmup: eager calls on a side stream before the capture (cuDNN picks its kernels).
        clone: return copies of the outputs (default). With False the outputs are the
            graph's own tensors, overwritten by the next call.
        autocast_dtype: capture under ``torch.autocast('cuda', dtype)`` with autocast's
            weight-cast cache off (e.g. ``torch.bfloat16``); None = as the module runs.
            Capturing inside the caller's own autocast is refused: its cache frees the cast
            weights when the context ends, and the replays would read freed memory (an
            illegal memory access, as measured on an H200).

    The graph reads the module's parameters where they lie: in-place updates (an optimizer
    step, ``load_state_dict``) are seen; moving the module (``.to()``) or changing its mode
    needs a new ``CudaGraphed``.
    """

    def __init__(self, module: nn.Module, example: torch.Tensor, warmup: int = 3,
                 clone: bool = True, autocast_dtype: Optional[torch.dtype] = None):
        if not isinstance(example, torch.Tensor) or example.device.type != 'cuda':
            where = example.device if isinstance(example, torch.Tensor) else type(example)
            raise ValueError(f'CudaGraphed needs an example input on a CUDA device, got one '
                             f'on {where}; run the module eagerly on other devices')
        if torch.is_autocast_enabled('cuda') and torch.is_autocast_cache_enabled():
            raise ValueError('CudaGraphed was created inside torch.autocast, whose weight-cast '
                             'cache would be freed under the graph; pass autocast_dtype='
                             'torch.bfloat16 (or float16) instead')
        self.module, self.clone = module, clone
        amp = torch.autocast('cuda', dtype=autocast_dtype or torch.float32,
                             enabled=autocast_dtype is not None, cache_enabled=False)
        self.signature = (tuple(example.shape), example.dtype, example.device)
        self.static_input = example.clone()
        stream = torch.cuda.Stream(example.device)
        stream.wait_stream(torch.cuda.current_stream(example.device))
        with torch.no_grad(), amp, torch.cuda.stream(stream):
            for _ in range(warmup):
                module(self.static_input)
        torch.cuda.current_stream(example.device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), amp, torch.cuda.graph(self.graph):
            self.static_output = module(self.static_input)

    def __call__(self, x: torch.Tensor) -> Any:
        got = (tuple(x.shape), x.dtype, x.device)
        if got != self.signature:
            raise ValueError(f'this CudaGraphed was captured for inputs of shape, dtype and '
                             f'device {self.signature}, got {got}; capture one per input '
                             'shape (e.g. per batch size)')
        self.static_input.copy_(x)
        self.graph.replay()
        if not self.clone:
            return self.static_output
        return tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t,
                        self.static_output)
