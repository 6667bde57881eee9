"""mmcls's ResNet_CIFAR with solo-learn's CIFAR stem: 3x3 conv, stride 1, **padding 2**, no
max-pool (32x32 images -> 34x34 maps), the stem of the dynamic-gating reference code's dense
and gated networks (KrishnaTarun/Unification ``resnet_gating.py``). Key names and everything
else are mmcls's, so ``mmcls.ResNet_CIFAR`` loads the weights (its stem pads by 1)."""
from mmcls.models.backbones import ResNet_CIFAR

from dspnet_mm.registry import MODELS


@MODELS.register_module()
class ResNetCIFAR(ResNet_CIFAR):
    """``mmcls.ResNet_CIFAR`` whose 3x3 stride-1 stem conv pads by ``stem_padding`` pixels.

    Args:
        stem_padding: 2 for solo-learn's CIFAR ResNet (maps 34/17/9/5 for ResNet-18 on
            32x32), 1 for mmcls's (32/16/8/4).
        Other arguments as ``mmcls.ResNet_CIFAR``.
    """

    def __init__(self, depth, stem_padding: int = 2, **kwargs):
        if not isinstance(stem_padding, int) or stem_padding < 0:
            raise ValueError(f'stem_padding {stem_padding!r} must be an int >= 0')
        self.stem_padding = stem_padding
        super().__init__(depth, **kwargs)

    def _make_stem_layer(self, in_channels, base_channels):
        super()._make_stem_layer(in_channels, base_channels)
        self.conv1.padding = (self.stem_padding, self.stem_padding)
