"""Dynamic gating's machinery: the per-block channel gate, the dual BN of the two branches and
the FLOPs accounting of a gated network (what the sparsity loss drives to its budget)."""
from .dual_bn import DualBatchNorm2d, upgrade_gated_keys
from .gate import ChannelGate, straight_through_binary_concrete
from .gated_flops import FLOPS_CONVENTIONS, GatedFlops, count_gated_flops

__all__ = ['DualBatchNorm2d', 'upgrade_gated_keys', 'ChannelGate',
           'straight_through_binary_concrete', 'FLOPS_CONVENTIONS', 'GatedFlops',
           'count_gated_flops']
