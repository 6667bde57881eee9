"""What the slimmable and the gated networks share: the ResNet skeleton (stage table, blocks,
mmcls key names), mmengine's FLOPs counter, and an all-gather that keeps gradients."""
from .flops import complexity
from .gather import gather_with_grad
from .resnet_skeleton import ARCH_SETTINGS, BasicBlock, Bottleneck, ResNetSkeleton, arch_of

__all__ = ['complexity', 'gather_with_grad', 'ARCH_SETTINGS', 'BasicBlock', 'Bottleneck',
           'ResNetSkeleton', 'arch_of']
