"""PlainResNet: one ResNet of any per-stage width and depth, plain convs and BN.

It is what a desired network becomes once slimmed out of the supernet
(``SlimmableResNet.export``), the network a one-by-one baseline pretrains, and the dense branch
of a gating network (``GatedResNet.export('dense')``). Its keys are those of mmcls / mmdet /
mmseg ``ResNet`` (``conv1``, ``layer1.0.bn1``...), so a stock ResNet of the same shape reads
its checkpoints."""
import functools
from typing import Mapping, Optional, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_norm_layer

from dspnet_mm.registry import MODELS
from ..slimmable.subnet import ResNetChannels, SubnetSpec, resnet_channels
from ..utils.flops import complexity
from ..utils.resnet_skeleton import ResNetSkeleton, arch_of

SubnetLike = Union[str, SubnetSpec, Mapping, None]


def arch_channels(arch: Mapping, spec: SubnetSpec) -> ResNetChannels:
    """Stem and per-stage (mid, out) channels of ``spec`` in the family ``arch``."""
    return resnet_channels(spec, arch['stem_channels'], arch['base_channels'],
                           arch_of(arch['depth'])[0].expansion)


def named_spec(subnet: SubnetLike, subnets: Optional[Mapping], max_depths) -> SubnetSpec:
    """The spec of ``subnet``: a spec dict / ``SubnetSpec``, a name looked up in ``subnets``,
    or None (the whole network)."""
    if subnet is None:
        return SubnetSpec((1.0, ) * 4, tuple(max_depths))
    if isinstance(subnet, str):
        if not subnets or subnet not in subnets:
            known = ', '.join(subnets or {}) or '(none: pass subnets=...)'
            raise ValueError(f'unknown subnet {subnet!r}; known subnets: {known}')
        return SubnetSpec.create(subnets[subnet], tuple(max_depths), subnet)
    return SubnetSpec.create(subnet, tuple(max_depths))


@functools.lru_cache(maxsize=256)
def _complexity(arch_items, spec: SubnetSpec, size: int):
    arch = dict(arch_items)
    net = PlainResNet(subnet=spec, **arch)
    return tuple(complexity(net, (arch['in_channels'], size, size)).items())


def plain_complexity(arch: Mapping, spec: SubnetSpec, input_size: Optional[int] = None) -> dict:
    """FLOPs (multiply-accumulates, mmengine's counter) and params of the plain network of
    ``spec`` on one ``input_size``-pixel square image (default 224, or 32 for a small-input
    stem)."""
    size = input_size or (32 if arch['small_input'] else 224)
    return dict(_complexity(tuple(arch.items()), spec, size))


class ResNetFamily(ResNetSkeleton):
    """What :class:`PlainResNet` and :class:`SlimmableResNet` share: a ResNet family's arguments
    (mmcls ``ResNet`` conventions) recorded in ``arch``, the upstream arguments checked, and
    the network built at the shape of :meth:`built_spec`.

    Args:
        depth: 18, 34, 50 or 101: the block type and the most blocks per stage.
        norm_cfg: the BN layers' config.
        Other arguments as in :class:`ResNetSkeleton` (``out_indices`` counted from the first
        stage). The other keyword arguments of mmdet / mmseg / mmcls ``ResNet`` are accepted
        too when they ask for nothing this network lacks, so swapping only ``type`` in an
        upstream config works (see :func:`check_upstream_resnet_kwargs`).
    """

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: int = 64,
                 base_channels: int = 64, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1),
                 out_indices=(3, ), style='pytorch', small_input: bool = False,
                 frozen_stages: int = -1, norm_cfg=dict(type='BN', requires_grad=True),
                 norm_eval: bool = False, zero_init_residual: bool = False, init_cfg=None,
                 contract_dilation: bool = False, stem_padding: Optional[int] = None,
                 **upstream):
        init_cfg = check_upstream_resnet_kwargs(upstream, init_cfg, type(self).__name__)
        self.arch = dict(depth=depth, in_channels=in_channels, stem_channels=stem_channels,
                         base_channels=base_channels, strides=tuple(strides),
                         dilations=tuple(dilations), style=style, small_input=small_input)
        if stem_padding is not None:  # only when set, so older configs and metadata match
            self.arch['stem_padding'] = stem_padding
        self.norm_cfg = dict(norm_cfg)
        spec = self.built_spec()
        super().__init__(depth, arch_channels(self.arch, spec), spec.depths, in_channels,
                         strides, dilations, out_indices, style, small_input, frozen_stages,
                         norm_eval, zero_init_residual, init_cfg,
                         contract_dilation=contract_dilation, stem_padding=stem_padding)

    def built_spec(self) -> SubnetSpec:
        """The shape whose layers are built (the whole network for a supernet)."""
        raise NotImplementedError


@MODELS.register_module()
class PlainResNet(ResNetFamily):
    """A ResNet of one shape: per-stage widths and depths given by ``subnet``.

    Args:
        depth: 18, 34, 50 or 101.
        subnet: the shape, ``dict(widths=float | 4 floats, depths=4 ints)``, a
            ``SubnetSpec``, a name looked up in ``subnets``, or None for the whole network.
        subnets: named desired networks (the supernet's table), so a config can select one by
            name: ``subnets=dspnet_r50_subnets, subnet='r50_w05'``.
        norm_cfg: any mmcv norm layer, e.g. ``dict(type='SyncBN')`` downstream.
        Other arguments as in :class:`ResNetFamily`.
    """

    def __init__(self, depth: int, subnet: SubnetLike = None,
                 subnets: Optional[Mapping[str, Mapping]] = None, **kwargs):
        self.spec = named_spec(subnet, subnets, arch_of(depth)[1])
        super().__init__(depth, **kwargs)

    def built_spec(self) -> SubnetSpec:
        return self.spec

    def make_conv(self, in_channels, out_channels, kernel_size, stride, padding, dilation):
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         bias=False)

    def make_norm(self, num_features, role, stage, block):
        return build_norm_layer(self.norm_cfg, num_features)[1]

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of the returned feature maps."""
        return tuple(self.stage_channels[i] for i in self.out_indices)

    def complexity(self, input_size: Optional[int] = None) -> dict:
        """FLOPs and params on one square image (see :func:`plain_complexity`)."""
        return plain_complexity(self.arch, self.spec, input_size)

    def config(self) -> dict:
        """A config that builds this network again (with ``type``, without ``init_cfg``)."""
        return dict(type='dspnet_mm.PlainResNet', subnet=self.spec.to_dict(), **self.arch,
                    out_indices=self.out_indices, norm_cfg=self.norm_cfg)


# keyword arguments of mmdet / mmseg / mmcls ``ResNet`` that these networks do not implement:
# the value that means "off" (what upstream configs give when they do not use the feature)
_UPSTREAM_OFF = dict(num_stages=4, deep_stem=False, avg_down=False, with_cp=False,
                     conv_cfg=None, dcn=None, plugins=None, multi_grid=None, expansion=None,
                     drop_path_rate=0.0)


def check_upstream_resnet_kwargs(upstream: Mapping, init_cfg, owner: str):
    """Accept the extra arguments of an upstream ``ResNet`` config when they ask for nothing
    this network lacks; refuse the others by name. ``pretrained='path'`` (mmdet/mmseg's old
    form, which mmseg's segmentors still pass down) becomes ``init_cfg=Pretrained``. Returns
    the ``init_cfg`` to use."""
    upstream = dict(upstream)
    pretrained = upstream.pop('pretrained', None)
    stage_with_dcn = upstream.pop('stage_with_dcn', None)
    if stage_with_dcn is not None and any(stage_with_dcn):
        raise ValueError(f'{owner}: stage_with_dcn={tuple(stage_with_dcn)} asks for deformable '
                         'convolutions, which the pretrained network does not have')
    for key, value in upstream.items():
        if key not in _UPSTREAM_OFF:
            raise TypeError(f'{owner} got an unexpected keyword argument {key!r}')
        off = _UPSTREAM_OFF[key]
        if value != off and not (value in (None, []) and off is None):
            why = {'num_stages': 'the four stages of the pretrained network are all kept '
                                 '(a C4 detector uses dspnet_mm.SlimmableResNetTrunk)',
                   'deep_stem': "the pretrained network has the plain 7x7 stem, not "
                                "ResNetV1c's deep stem",
                   'avg_down': 'the pretrained shortcuts are strided 1x1 convs, not '
                               'average-pooled (ResNetV1d)',
                   'conv_cfg': 'the pretrained convs are plain Conv2d'}.get(
                       key, 'the pretrained network has no such feature')
            raise ValueError(f'{owner}: {key}={value!r} is not supported ({why}); remove it '
                             f'or set {key}={off!r}')
    if isinstance(pretrained, str):
        if init_cfg is not None:
            raise ValueError(f'{owner}: give pretrained={pretrained!r} or init_cfg, not both')
        init_cfg = dict(type='Pretrained', checkpoint=pretrained)
    elif pretrained is not None:
        raise TypeError(f'{owner}: pretrained must be a checkpoint path or None, got '
                        f'{pretrained!r}')
    return init_cfg
