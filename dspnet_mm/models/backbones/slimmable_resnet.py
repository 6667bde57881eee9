"""SlimmableResNet: a ResNet supernet whose sub-networks differ in width and depth."""
import contextlib
import functools
from itertools import islice
from typing import Dict, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer

from dspnet_mm.registry import MODELS
from ..utils.flops import complexity
from ..utils.resnet_skeleton import ResNetSkeleton, arch_of
from ..slimmable.slimmable_ops import SlimmableConv2d, SwitchableBatchNorm2d
from ..slimmable.subnet import ResNetChannels, SubnetSpec, resnet_channels

SubnetLike = Union[str, SubnetSpec, Mapping, None]


class _SubnetSwitch(contextlib.AbstractContextManager):
    """Returned by ``set_subnet``; as a context manager it restores the previous subnet."""

    def __init__(self, backbone, previous):
        self.backbone, self.previous = backbone, previous

    def __exit__(self, *exc):
        self.backbone._activate(*self.previous)
        return False


@MODELS.register_module()
class SlimmableResNet(ResNetSkeleton):
    """ResNet supernet of sub-networks ("desired networks", DNs) of any width and depth.

    Sub-network channels are prefix slices of the supernet's weights (US-Nets); depth keeps
    the first blocks of each stage (Once-for-All). Each named DN has private BN statistics and
    affine parameters (switchable BN); the full network's BN keeps the standard key names, so a
    stock ResNet of the same depth reads the supernet's ``state_dict``.

    Two modes:
      - supernet: ``SlimmableResNet(depth, subnets={name: dict(widths=..., depths=...)})``,
        switched with ``set_subnet(name_or_spec)`` (also a context manager);
      - fixed: ``SlimmableResNet(depth, subnet=spec_or_name)`` builds a plain network of exactly
        that shape (plain convs and BN), for downstream use of a slimmed checkpoint.

    Args:
        depth: 18, 34, 50 or 101.
        subnets: named desired networks, ``{name: dict(widths=float|4 floats, depths=4 ints)}``.
        subnet: fixed mode: a spec dict, or a name looked up in ``subnets``.
        private_bn: give every named DN its own BN (default); otherwise all share the full BN.
        norm_cfg: ``dict(type='BN'|'SyncBN', ...)``.
        Other arguments as in :class:`ResNetSkeleton` (mmcls ``ResNet`` conventions,
        ``out_indices`` counted from the first stage). The other keyword arguments of mmdet /
        mmseg / mmcls ``ResNet`` are accepted too, so swapping only ``type`` in an upstream
        config works (see :func:`check_upstream_resnet_kwargs`).
    """

    def __init__(self, depth: int, subnets: Optional[Mapping[str, Mapping]] = None,
                 subnet: SubnetLike = None, private_bn: bool = True, in_channels: int = 3,
                 stem_channels: int = 64, base_channels: int = 64, strides=(1, 2, 2, 2),
                 dilations=(1, 1, 1, 1), out_indices=(3, ), style='pytorch',
                 small_input: bool = False, frozen_stages: int = -1,
                 norm_cfg=dict(type='BN', requires_grad=True), norm_eval: bool = False,
                 zero_init_residual: bool = False, init_cfg=None,
                 contract_dilation: bool = False, stem_padding: Optional[int] = None,
                 **upstream):
        init_cfg = check_upstream_resnet_kwargs(upstream, init_cfg, type(self).__name__)
        block, max_depths = arch_of(depth)
        self.max_depths = tuple(max_depths)
        self.arch = dict(depth=depth, in_channels=in_channels, stem_channels=stem_channels,
                         base_channels=base_channels, strides=tuple(strides),
                         dilations=tuple(dilations), style=style, small_input=small_input)
        if stem_padding is not None:  # only when set, so older configs and metadata match
            self.arch['stem_padding'] = stem_padding
        self.norm_cfg = dict(norm_cfg)
        self.full_spec = SubnetSpec((1.0, ) * 4, self.max_depths)
        self.subnets: Dict[str, SubnetSpec] = {}
        for name, value in (subnets or {}).items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f'subnet name {name!r} must be a Python identifier '
                                 '(letters, digits, underscores)')
            if hasattr(nn.Module, name):
                raise ValueError(f'subnet name {name!r} clashes with an nn.Module attribute; '
                                 'choose another name, e.g. r50_w05')
            self.subnets[name] = SubnetSpec.create(value, self.max_depths, name)

        if subnet is not None:  # fixed mode
            spec = self.resolve(subnet)[0]
            self.fixed_spec = spec
        else:
            spec, self.fixed_spec = self.full_spec, None
        # DNs with private BN: every named DN except the full network itself
        self.private_bn_names = [n for n, s in self.subnets.items()
                                 if private_bn and s != self.full_spec] if not self.is_fixed else []
        self._bn_sync = self.norm_cfg.get('type', 'BN') == 'SyncBN'
        if not self.is_fixed and self.norm_cfg.get('type', 'BN') not in ('BN', 'SyncBN'):
            raise ValueError(f"norm_cfg type {self.norm_cfg.get('type')!r}: the supernet "
                             "supports 'BN' and 'SyncBN'")
        super().__init__(depth, self.channels_of(spec), spec.depths, in_channels, strides,
                         dilations, out_indices, style, small_input, frozen_stages, norm_eval,
                         zero_init_residual, init_cfg, contract_dilation=contract_dilation,
                         stem_padding=stem_padding)
        self._active_spec, self._active_key = spec, None
        if not self.is_fixed:
            self._activate(self.full_spec, None)

    # ---------------------------------------------------------------- construction
    @property
    def is_fixed(self) -> bool:
        return self.fixed_spec is not None

    def channels_of(self, spec: SubnetSpec) -> ResNetChannels:
        return resnet_channels(spec, self.arch['stem_channels'], self.arch['base_channels'],
                               arch_of(self.arch['depth'])[0].expansion)

    def make_conv(self, in_channels, out_channels, kernel_size, stride, padding, dilation):
        conv = nn.Conv2d if self.is_fixed else SlimmableConv2d
        return conv(in_channels, out_channels, kernel_size, stride, padding, dilation,
                    bias=False)

    def make_norm(self, num_features, role, stage, block):
        if self.is_fixed:
            return build_norm_layer(self.norm_cfg, num_features)[1]
        subnet_features = {}
        for name in self.private_bn_names:
            spec = self.subnets[name]
            if role == 'stem':
                subnet_features[name] = self.channels_of(spec).stem
            elif block < spec.depths[stage]:
                mid, out = self.channels_of(spec).stages[stage]
                subnet_features[name] = mid if role == 'mid' else out
        cfg = {k: v for k, v in self.norm_cfg.items() if k in ('eps', 'momentum')}
        bn = SwitchableBatchNorm2d(num_features, subnet_features, sync=self._bn_sync, **cfg)
        if not self.norm_cfg.get('requires_grad', True):
            bn.requires_grad_(False)
        return bn

    # ---------------------------------------------------------------- switching
    def resolve(self, subnet: SubnetLike) -> Tuple[SubnetSpec, Optional[str]]:
        """(spec, name or None) of a DN name, a spec dict/SubnetSpec, or None (full)."""
        if subnet is None:
            return self.full_spec, None
        if isinstance(subnet, str):
            if subnet not in self.subnets:
                known = ', '.join(self.subnets) or '(none: pass subnets=...)'
                raise ValueError(f'unknown subnet {subnet!r}; known subnets: {known}')
            return self.subnets[subnet], subnet
        return SubnetSpec.create(subnet, self.max_depths), None

    def set_subnet(self, subnet: SubnetLike) -> _SubnetSwitch:
        """Activate a DN (by name), an arbitrary spec (shared, sliced BN) or None (full).

        Usable as a plain call or as ``with backbone.set_subnet('r50_w05'): ...``."""
        if self.is_fixed:
            raise RuntimeError('set_subnet() needs a supernet; this SlimmableResNet was '
                               f'built in fixed mode for {self.fixed_spec}')
        spec, name = self.resolve(subnet)
        previous = (self._active_spec, self._active_key)
        self._activate(spec, name if name in self.private_bn_names else None)
        return _SubnetSwitch(self, previous)

    def _activate(self, spec: SubnetSpec, bn_key: Optional[str]):
        channels = self.channels_of(spec)
        self.conv1.active_out_channels = channels.stem
        for i, name in enumerate(self.res_layers):
            mid, out = channels.stages[i]
            for block in islice(getattr(self, name), spec.depths[i]):
                for conv, role in block.convs_by_role():
                    conv.active_out_channels = mid if role == 'mid' else out
        for m in self.modules():
            if isinstance(m, SwitchableBatchNorm2d):
                m.active_key = bn_key
        self._active_spec, self._active_key = spec, bn_key

    @property
    def active_spec(self) -> SubnetSpec:
        return self.fixed_spec or self._active_spec

    def blocks_to_run(self, stage, layer):
        return islice(layer, self._active_spec.depths[stage])

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of the returned feature maps for the active (or fixed) spec."""
        stages = self.channels_of(self.active_spec).stages
        return tuple(stages[i][1] for i in self.out_indices)

    def complexity(self, subnet: SubnetLike = None, input_size: int = None) -> dict:
        """FLOPs (multiply-accumulates, mmengine's counter) and params of the plain network of
        a DN or spec, on one ``input_size``-pixel square image (default 224, or 32 for a
        small-input stem)."""
        spec = self.resolve(subnet)[0]
        size = input_size or (32 if self.arch['small_input'] else 224)
        return dict(_complexity(tuple(self.arch.items()), spec, size))

    # ---------------------------------------------------------------- slimming
    def fixed_config(self, subnet: SubnetLike) -> dict:
        """Constructor kwargs of the plain (fixed-mode) network of a DN or spec."""
        spec = self.resolve(subnet)[0]
        return dict(type='SlimmableResNet', subnet=spec.to_dict(), **self.arch,
                    out_indices=self.out_indices, norm_cfg=self.norm_cfg)

    def subnet_state_dict(self, subnet: SubnetLike) -> Dict[str, torch.Tensor]:
        """The ``state_dict`` of the plain network of a DN: weights sliced, its own BN."""
        spec, name = self.resolve(subnet)
        key = name if name in self.private_bn_names else None
        cfg = self.fixed_config(spec)
        cfg.pop('type')
        with torch.device('meta'):
            shapes = {k: v.shape for k, v in SlimmableResNet(**cfg).state_dict().items()}
        return slice_supernet_state_dict(self.state_dict(), shapes, key)

    def export(self, subnet: SubnetLike, weights: bool = True) -> 'SlimmableResNet':
        """The plain (fixed-mode) network of a DN, in eval mode: with the supernet's sliced
        weights and that DN's BN (``weights=True``), or freshly initialised."""
        cfg = self.fixed_config(subnet)
        cfg.pop('type')
        net = SlimmableResNet(**cfg)
        if weights:
            net.load_state_dict(self.subnet_state_dict(subnet), strict=True)
        else:
            net.init_weights()
        return net.eval()


# keyword arguments of mmdet / mmseg / mmcls ``ResNet`` that this network does not implement:
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


@functools.lru_cache(maxsize=256)
def _complexity(arch_items, spec: SubnetSpec, size: int):
    arch = dict(arch_items)
    net = SlimmableResNet(subnet=spec, **arch)
    return tuple(complexity(net, (arch['in_channels'], size, size)).items())


def slice_supernet_state_dict(state_dict: Mapping[str, torch.Tensor],
                              shapes: Mapping[str, torch.Size],
                              bn_key: Optional[str]) -> Dict[str, torch.Tensor]:
    """Cut a plain network's ``state_dict`` (target ``shapes``) out of a supernet's.

    Every tensor is the leading slice of the supernet tensor of the same name; BN entries come
    from ``<bn>.subnet_bns.<bn_key>.*`` when the DN has private BN."""
    out = {}
    for k, shape in shapes.items():
        src = k
        if bn_key is not None:
            module, _, leaf = k.rpartition('.')
            private = f'{module}.subnet_bns.{bn_key}.{leaf}'
            src = private if private in state_dict else k
        if src not in state_dict:
            raise KeyError(f'the supernet state_dict has no entry {src!r}')
        t = state_dict[src]
        if t.dim() != len(shape) or any(a < b for a, b in zip(t.shape, shape)):
            raise ValueError(f'{src}: supernet tensor {tuple(t.shape)} cannot be sliced to '
                             f'{tuple(shape)}; is the checkpoint of another architecture?')
        out[k] = t[tuple(slice(0, n) for n in shape)].clone()
    return out
