"""The ResNet skeleton shared by SlimmableResNet and GatedResNet: stage table, block order and
key names of mmcls/mmdet/mmseg's ``ResNet`` (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer1.0.downsample.0``...), so a stock ResNet reads our checkpoints.

The skeleton decides *which* layers exist; a subclass decides *how* they are built by
implementing ``make_conv`` and ``make_norm`` (plain, slimmable or switchable layers)."""
from typing import Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..slimmable.subnet import ResNetChannels


class BasicBlock(nn.Module):
    """ResNet BasicBlock: conv3x3-bn-relu-conv3x3-bn + shortcut, relu."""
    expansion = 1

    def __init__(self, in_channels, mid_channels, out_channels, stride=1, dilation=1,
                 style='pytorch', conv=None, norm=None):
        super().__init__()
        self.conv1 = conv(in_channels, mid_channels, 3, stride, dilation, dilation)
        self.bn1 = norm(mid_channels, 'mid')
        self.conv2 = conv(mid_channels, out_channels, 3, 1, 1, 1)
        self.bn2 = norm(out_channels, 'out')
        self.relu = nn.ReLU(inplace=True)
        self.downsample = make_downsample(in_channels, out_channels, stride, conv, norm)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)

    def convs_by_role(self):
        """(conv, 'mid' | 'out') for every conv: which channel count it outputs."""
        roles = [(self.conv1, 'mid'), (self.conv2, 'out')]
        return roles + ([(self.downsample[0], 'out')] if self.downsample is not None else [])


class Bottleneck(nn.Module):
    """ResNet Bottleneck: 1x1 (mid) - 3x3 (mid) - 1x1 (out = 4 mid) + shortcut.

    ``style='pytorch'`` puts the stride on the 3x3 conv, ``'caffe'`` on the first 1x1."""
    expansion = 4

    def __init__(self, in_channels, mid_channels, out_channels, stride=1, dilation=1,
                 style='pytorch', conv=None, norm=None):
        super().__init__()
        s1, s2 = (1, stride) if style == 'pytorch' else (stride, 1)
        self.conv1 = conv(in_channels, mid_channels, 1, s1, 0, 1)
        self.bn1 = norm(mid_channels, 'mid')
        self.conv2 = conv(mid_channels, mid_channels, 3, s2, dilation, dilation)
        self.bn2 = norm(mid_channels, 'mid')
        self.conv3 = conv(mid_channels, out_channels, 1, 1, 0, 1)
        self.bn3 = norm(out_channels, 'out')
        self.relu = nn.ReLU(inplace=True)
        self.downsample = make_downsample(in_channels, out_channels, stride, conv, norm)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)

    def convs_by_role(self):
        roles = [(self.conv1, 'mid'), (self.conv2, 'mid'), (self.conv3, 'out')]
        return roles + ([(self.downsample[0], 'out')] if self.downsample is not None else [])


def make_downsample(in_channels, out_channels, stride, conv, norm):
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(conv(in_channels, out_channels, 1, stride, 0, 1),
                         norm(out_channels, 'out'))


ARCH_SETTINGS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


def full_channels(stem_channels: int, base_channels: int, expansion: int) -> ResNetChannels:
    """Channels of the whole network: stage i has ``base * 2**i`` middle channels and
    ``expansion`` times that many output channels."""
    return ResNetChannels(stem_channels, tuple(
        (base_channels * 2**i, base_channels * 2**i * expansion) for i in range(4)))


def arch_of(depth):
    """(block class, max blocks per stage) of a ResNet depth, or a clear error."""
    if depth not in ARCH_SETTINGS:
        raise ValueError(f'ResNet depth {depth!r} is not supported; '
                         f'choose one of {sorted(ARCH_SETTINGS)}')
    return ARCH_SETTINGS[depth]


class ResNetSkeleton(BaseModule):
    """A ResNet assembled from a stage table.

    Args:
        depth: 18, 34, 50 or 101.
        channels: stem width and (mid, out) widths of each stage.
        stage_blocks: blocks built in each stage.
        in_channels: image channels.
        strides, dilations: per stage, as mmcls/mmdet/mmseg.
        out_indices: stages whose outputs are returned, counted from 0 (3 = last stage).
        style: 'pytorch' or 'caffe'.
        small_input: CIFAR-style stem (3x3 stride-1 conv, no max-pool) for small images.
        frozen_stages: stages (and the stem for >= 0) frozen in training; -1 freezes nothing.
        norm_eval: keep BN layers in eval mode while training.
        zero_init_residual: zero the last BN of each block at init.
        stem_padding: padding of the stem conv; None keeps the standard one (1 for the 3x3
            ``small_input`` stem, 3 for the 7x7 stem). solo-learn's CIFAR ResNet pads its 3x3
            stem by 2 (32x32 -> 34x34 maps).
        contract_dilation: the first block of a dilated stage uses half the dilation
            (mmseg's ``ResNetV1c`` default; the weights are the same, only the sampling).
    """

    def __init__(self, depth: int, channels: ResNetChannels, stage_blocks: Sequence[int],
                 in_channels: int = 3, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1),
                 out_indices=(3, ), style='pytorch', small_input=False, frozen_stages=-1,
                 norm_eval=False, zero_init_residual=False, init_cfg=None, stem_padding=None,
                 contract_dilation=False):
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer=['Conv2d']),
                        dict(type='Constant', val=1, layer=['_BatchNorm'])]
        super().__init__(init_cfg)
        self.block, _ = arch_of(depth)
        self.depth = depth
        if len(strides) != 4 or len(dilations) != 4:
            raise ValueError(f'strides {strides} and dilations {dilations} need 4 values')
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < 4 for i in out_indices):
            raise ValueError(f'out_indices {out_indices} must be stage indices in 0..3 '
                             '(counted from the first stage, as in mmcls/mmdet/mmseg)')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"style {style!r} must be 'pytorch' or 'caffe'")
        self.in_channels = in_channels
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.small_input = small_input
        # output channels of each stage (what an FPN or a decode head reads)
        self.stage_channels = tuple(out for _, out in channels.stages)

        if stem_padding is not None and (not isinstance(stem_padding, int) or stem_padding < 0):
            raise ValueError(f'stem_padding {stem_padding!r} must be None or an int >= 0')
        if small_input:
            pad = 1 if stem_padding is None else stem_padding
            self.conv1 = self.make_conv(in_channels, channels.stem, 3, 1, pad, 1)
        else:
            pad = 3 if stem_padding is None else stem_padding
            self.conv1 = self.make_conv(in_channels, channels.stem, 7, 2, pad, 1)
        self.bn1 = self.make_norm(channels.stem, 'stem', stage=-1, block=0)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)

        self.res_layers = []
        prev = channels.stem
        for i, (num_blocks, (mid, out)) in enumerate(zip(stage_blocks, channels.stages)):
            blocks = []
            for j in range(num_blocks):
                blocks.append(self.make_block(
                    self.block, stage=i, block=j, in_channels=prev, mid_channels=mid,
                    out_channels=out, stride=strides[i] if j == 0 else 1,
                    dilation=(dilations[i] // 2 if contract_dilation and j == 0
                              and dilations[i] > 1 else dilations[i]),
                    style=style, conv=self.make_conv,
                    norm=lambda c, role, i=i, j=j: self.make_norm(c, role, stage=i, block=j)))
                prev = out
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            self.res_layers.append(f'layer{i + 1}')
        self._freeze_stages()

    # how layers are built: implemented by subclasses
    def make_conv(self, in_channels, out_channels, kernel_size, stride, padding, dilation):
        raise NotImplementedError

    def make_norm(self, num_features, role, stage, block):
        raise NotImplementedError

    def make_block(self, block_cls, stage, block, **kwargs):
        """Build block ``block`` of ``stage`` (a subclass may return a variant, e.g. gated)."""
        return block_cls(**kwargs)

    def blocks_to_run(self, stage: int, layer: nn.Sequential):
        """The blocks of ``stage`` executed in forward (all of them here)."""
        return layer

    def forward(self, x):
        if x.dim() != 4 or x.size(1) != self.in_channels:
            raise ValueError(f'{self.__class__.__name__} expects images of shape '
                             f'(N, {self.in_channels}, H, W), got {tuple(x.shape)}')
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.res_layers):
            for block in self.blocks_to_run(i, getattr(self, name)):
                x = block(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def init_weights(self):
        super().init_weights()
        if isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained':
            return
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                    extra = [getattr(last_bn, 'gated_bn', None),
                             *getattr(last_bn, 'subnet_bns', {}).values()]
                    for bn in [last_bn, *filter(None, extra)]:
                        nn.init.zeros_(bn.weight)

    def _freeze_stages(self):
        if self.frozen_stages >= 0:
            for m in (self.conv1, self.bn1):
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False
        for i in range(1, self.frozen_stages + 1):
            m = getattr(self, f'layer{i}')
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

