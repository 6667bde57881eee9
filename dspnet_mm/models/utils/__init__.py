from .resnet_skeleton import ARCH_SETTINGS, BasicBlock, Bottleneck, ResNetSkeleton, arch_of
from .slimmable_ops import SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d
from .subnet import ResNetChannels, SubnetSpec, make_divisible, resnet_channels

__all__ = ['ARCH_SETTINGS', 'BasicBlock', 'Bottleneck', 'ResNetSkeleton', 'arch_of',
           'SlimmableConv2d', 'SlimmableLinear', 'SwitchableBatchNorm2d', 'ResNetChannels',
           'SubnetSpec', 'make_divisible', 'resnet_channels', 'recalibrate_bn']
from .bn_calibration import recalibrate_bn
from .gate import ChannelGate, straight_through_binary_concrete
from .gated_flops import GatedFlops, count_gated_flops
from .gather import gather_with_grad

__all__ += ['ChannelGate', 'straight_through_binary_concrete', 'GatedFlops',
            'count_gated_flops', 'gather_with_grad']
