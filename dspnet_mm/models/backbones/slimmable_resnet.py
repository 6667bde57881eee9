"""SlimmableResNet: a ResNet supernet whose sub-networks differ in width and depth."""
import contextlib
from itertools import islice
from typing import Dict, Mapping, Optional, Tuple

import torch
import torch.nn as nn

from dspnet_mm.registry import MODELS
from ..slimmable.slimmable_ops import SlimmableConv2d, SwitchableBatchNorm2d
from ..slimmable.subnet import ResNetChannels, SubnetSpec
from ..utils.resnet_skeleton import arch_of
from .plain_resnet import (PlainResNet, ResNetFamily, SubnetLike, arch_channels, named_spec,
                           plain_complexity)


class _SubnetSwitch(contextlib.AbstractContextManager):
    """Returned by ``set_subnet``; as a context manager it restores the previous subnet."""

    def __init__(self, backbone, previous):
        self.backbone, self.previous = backbone, previous

    def __exit__(self, *exc):
        self.backbone._activate(*self.previous)
        return False


@MODELS.register_module()
class SlimmableResNet(ResNetFamily):
    """ResNet supernet of sub-networks ("desired networks", DNs) of any width and depth.

    Sub-network channels are prefix slices of the supernet's weights (US-Nets); depth keeps
    the first blocks of each stage (Once-for-All). Each named DN has private BN statistics and
    affine parameters (switchable BN); the full network's BN keeps the standard key names, so a
    stock ResNet of the same depth reads the supernet's ``state_dict``.

    ``SlimmableResNet(depth, subnets={name: dict(widths=..., depths=...)})`` is switched with
    ``set_subnet(name_or_spec)`` (also a context manager); ``export(name)`` slims a DN out as a
    :class:`PlainResNet`.

    Args:
        depth: 18, 34, 50 or 101.
        subnets: named desired networks, ``{name: dict(widths=float|4 floats, depths=4 ints)}``.
        subnet: given, the constructor returns ``PlainResNet(depth, subnet, subnets, ...)``:
            the plain network of that DN. Configs and slimmed files written before
            ``PlainResNet`` existed say ``type='SlimmableResNet', subnet=...``; they still load.
        private_bn: give every named DN its own BN (default); otherwise all share the full BN.
        norm_cfg: ``dict(type='BN'|'SyncBN', ...)``.
        Other arguments as in :class:`ResNetFamily` (mmcls ``ResNet`` conventions).
    """

    def __new__(cls, *args, subnet: SubnetLike = None, **kwargs):
        if cls is SlimmableResNet and subnet is not None:  # the old name of the plain network
            return PlainResNet(*args, subnet=subnet, **kwargs)
        return super().__new__(cls)

    def __init__(self, depth: int, subnets: Optional[Mapping[str, Mapping]] = None,
                 subnet: None = None, private_bn: bool = True, **kwargs):
        self.max_depths = tuple(arch_of(depth)[1])
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
        # DNs with private BN: every named DN except the full network itself
        self.private_bn_names = [n for n, s in self.subnets.items()
                                 if private_bn and s != self.full_spec]
        norm_type = kwargs.get('norm_cfg', {}).get('type', 'BN')
        if norm_type not in ('BN', 'SyncBN'):
            raise ValueError(f"norm_cfg type {norm_type!r}: the supernet supports 'BN' and "
                             "'SyncBN'")
        self._bn_sync = norm_type == 'SyncBN'
        super().__init__(depth, **kwargs)
        self._activate(self.full_spec, None)

    def built_spec(self) -> SubnetSpec:
        return self.full_spec

    # ---------------------------------------------------------------- construction
    def channels_of(self, spec: SubnetSpec) -> ResNetChannels:
        return arch_channels(self.arch, spec)

    def make_conv(self, in_channels, out_channels, kernel_size, stride, padding, dilation):
        return SlimmableConv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                               bias=False)

    def make_norm(self, num_features, role, stage, block):
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
        spec = named_spec(subnet, self.subnets, self.max_depths)
        return spec, subnet if isinstance(subnet, str) else None

    def set_subnet(self, subnet: SubnetLike) -> _SubnetSwitch:
        """Activate a DN (by name), an arbitrary spec (shared, sliced BN) or None (full).

        Usable as a plain call or as ``with backbone.set_subnet('r50_w05'): ...``."""
        spec, name = self.resolve(subnet)
        previous = (self._active_spec, self._active_key)
        self._activate(spec, name if name in self.private_bn_names else None)
        return _SubnetSwitch(self, previous)

    def _activate(self, spec: SubnetSpec, bn_key: Optional[str]):
        convs, bns = self._activation_plan(spec)
        # plain attributes written straight into the layers' __dict__: nn.Module.__setattr__
        # (a dozen Python calls each) would check them against parameters and submodules
        for conv, channels in convs:
            conv.__dict__['active_out_channels'] = channels
        for bn in bns:
            bn.__dict__['active_key'] = bn_key
        self._active_spec, self._active_key = spec, bn_key

    def _activation_plan(self, spec: SubnetSpec):
        """((conv, its output channels) for every conv ``spec`` runs, every switchable BN),
        kept for the last few specs: DSPNet switches DNs several times per step, and walking
        the modules (a BN per DN in every layer) each time is host time a GPU waits for."""
        plans = self.__dict__.setdefault('_plans', {})
        plan = plans.get(spec)
        if plan is None:
            channels = self.channels_of(spec)
            convs = [(self.conv1, channels.stem)]
            for i, name in enumerate(self.res_layers):
                mid, out = channels.stages[i]
                for block in islice(getattr(self, name), spec.depths[i]):
                    convs += [(conv, mid if role == 'mid' else out)
                              for conv, role in block.convs_by_role()]
            bns = [m for m in self.modules() if isinstance(m, SwitchableBatchNorm2d)]
            if len(plans) >= 32:  # sampled arbitrary specs: keep the cache small
                plans.clear()
            plan = plans[spec] = (convs, bns)
        return plan

    @property
    def active_spec(self) -> SubnetSpec:
        return self._active_spec

    def blocks_to_run(self, stage, layer):
        return islice(layer, self._active_spec.depths[stage])

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of the returned feature maps for the active spec."""
        stages = self.channels_of(self._active_spec).stages
        return tuple(stages[i][1] for i in self.out_indices)

    def complexity(self, subnet: SubnetLike = None, input_size: int = None) -> dict:
        """FLOPs (multiply-accumulates, mmengine's counter) and params of the plain network of
        a DN or spec, on one ``input_size``-pixel square image (default 224, or 32 for a
        small-input stem)."""
        return plain_complexity(self.arch, self.resolve(subnet)[0], input_size)

    # ---------------------------------------------------------------- slimming
    def plain_config(self, subnet: SubnetLike) -> dict:
        """Config (with ``type``) of the :class:`PlainResNet` of a DN or spec."""
        spec = self.resolve(subnet)[0]
        return dict(type='dspnet_mm.PlainResNet', subnet=spec.to_dict(), **self.arch,
                    out_indices=self.out_indices, norm_cfg=self.norm_cfg)

    def subnet_state_dict(self, subnet: SubnetLike) -> Dict[str, torch.Tensor]:
        """The ``state_dict`` of the plain network of a DN: weights sliced, its own BN."""
        spec, name = self.resolve(subnet)
        key = name if name in self.private_bn_names else None
        with torch.device('meta'):
            shapes = {k: v.shape for k, v in self._plain(spec).state_dict().items()}
        return slice_supernet_state_dict(self.state_dict(), shapes, key)

    def export(self, subnet: SubnetLike, weights: bool = True) -> PlainResNet:
        """The plain network of a DN, in eval mode: with the supernet's sliced weights and that
        DN's BN (``weights=True``), or freshly initialised."""
        net = self._plain(self.resolve(subnet)[0])
        if weights:
            net.load_state_dict(self.subnet_state_dict(subnet), strict=True)
        else:
            net.init_weights()
        return net.eval()

    def _plain(self, spec: SubnetSpec) -> PlainResNet:
        return PlainResNet(subnet=spec, **self.arch, out_indices=self.out_indices,
                           norm_cfg=self.norm_cfg)


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
