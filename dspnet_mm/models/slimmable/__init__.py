"""DSPNet's slimmable machinery: sub-network specs and channel arithmetic, layers that run on a
prefix slice of their weights (switchable BN), BN recalibration, the target's EMA."""
from .bn_calibration import recalibrate_bn
from .ema import TargetCosineEMA, is_private_bn
from .slimmable_ops import SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d, prefix
from .subnet import ResNetChannels, SubnetSpec, make_divisible, resnet_channels

__all__ = ['recalibrate_bn', 'TargetCosineEMA', 'is_private_bn', 'SlimmableConv2d',
           'SlimmableLinear', 'SwitchableBatchNorm2d', 'prefix', 'ResNetChannels', 'SubnetSpec',
           'make_divisible', 'resnet_channels']
