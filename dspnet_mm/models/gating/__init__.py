"""Dynamic gating's machinery: the per-block channel gate and the FLOPs accounting of a gated
network (what the sparsity loss drives to its budget)."""
from .gate import ChannelGate, straight_through_binary_concrete
from .gated_flops import FLOPS_CONVENTIONS, GatedFlops, count_gated_flops

__all__ = ['ChannelGate', 'straight_through_binary_concrete', 'FLOPS_CONVENTIONS', 'GatedFlops',
           'count_gated_flops']
