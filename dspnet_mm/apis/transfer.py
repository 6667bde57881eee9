"""Downstream transfer: a slimmed desired network inside unchanged mmdet / mmseg / mmcls models.

A slimmed network (``tools/slim.py``) is a plain ResNet whose stage widths and depths follow
its subnet spec, so the modules after the backbone (FPN, RPN and RoI heads, decode heads,
linear heads) need channel counts that depend on the spec. Configs never state them:

- ``WithSubnetChannels`` wraps the upstream model type (``model_type='mmdet.MaskRCNN'``...).
  When the model is built it reads the channels of every stage from the backbone config and
  writes them into the fields named by ``from_backbone``, then builds the upstream model
  unchanged. It also checks that the backbone's ``Pretrained`` checkpoint holds exactly the
  selected network (mmengine loads non-strictly and would only warn about a mismatch).
- C4 detectors split the network like mmdet's ``ResNet(num_stages=3)`` + ``ResLayer``:
  ``SlimmableResNetTrunk`` runs the first three stages on the image, ``SubnetResLayer`` the
  last stage on RoIs. Both are built by ``SlimmableResNet`` itself, so widths, depths and key
  names (``layer4.0.conv1.weight``...) are those of the slimmed checkpoint.

Stage indices (``from_backbone`` values, ``out_indices``, ``stage``) count residual stages from
0, as mmdet, mmseg, mmcls and ``SlimmableResNet`` do; configs under ``configs/benchmarks``
never copy ``out_indices`` from a pretraining config (mmselfsup's ``ResNet`` counts the stem as
0 there), so no index is ever shifted.
"""
import copy
import os
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.registry import MODELS as ROOT_MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from dspnet_mm.models.backbones.gated_resnet import GatedResNet
from dspnet_mm.models.backbones.slimmable_resnet import SlimmableResNet
from dspnet_mm.registry import MODELS
from .checkpoint import CheckpointError, load_checkpoint_safely

ChannelSource = Union[int, Sequence[int], str]
NUM_STAGES = 4


@MODELS.register_module()
class SlimmableResNetTrunk(SlimmableResNet):
    """The first ``num_stages`` stages of a fixed-mode ``SlimmableResNet``: the backbone of a C4
    detector (mmdet's ``ResNet(num_stages=3)``). :class:`SubnetResLayer` runs the next stage.

    Args:
        num_stages: stages kept (1-3).
        strides, dilations: one value per kept stage, as mmdet's ``ResNet``.
        Other arguments as :class:`SlimmableResNet`; ``subnet`` is required.
    """

    def __init__(self, depth: int, num_stages: int = 3, strides=(1, 2, 2), dilations=(1, 1, 1),
                 out_indices=(2, ), frozen_stages: int = -1, **kwargs):
        if kwargs.get('subnet') is None:
            raise ValueError('SlimmableResNetTrunk needs subnet=... (a desired network)')
        if not 1 <= num_stages < NUM_STAGES:
            raise ValueError(f'num_stages {num_stages} must be in 1..{NUM_STAGES - 1}')
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(f'strides {tuple(strides)} and dilations {tuple(dilations)} need '
                             f'{num_stages} values (one per kept stage)')
        if any(i >= num_stages for i in out_indices) or frozen_stages > num_stages:
            raise ValueError(f'out_indices {tuple(out_indices)} and frozen_stages '
                             f'{frozen_stages} must refer to the {num_stages} kept stages')
        dropped = NUM_STAGES - num_stages
        super().__init__(depth, strides=tuple(strides) + (2, ) * dropped,
                         dilations=tuple(dilations) + (1, ) * dropped, out_indices=out_indices,
                         frozen_stages=frozen_stages, **kwargs)
        for name in self.res_layers[num_stages:]:
            delattr(self, name)
        self.res_layers = self.res_layers[:num_stages]
        self.num_stages = num_stages


@MODELS.register_module()
class SubnetResLayer(BaseModule):
    """One stage of a slimmed network as the RoI shared head of a C4 detector (mmdet's
    ``ResLayer`` for a desired network). Input (R, C_in, 14, 14) RoI features, output
    (R, C_out, 7, 7) for ``stride=2``, with C_in, C_out the subnet's widths of the stages.

    Args:
        backbone: the detector's backbone config (filled in by ``WithSubnetChannels`` with
            ``from_backbone={'roi_head.shared_head.backbone': 'backbone'}``); its network is
            built and stage ``stage`` kept, named ``layer{stage + 1}`` as in the checkpoint.
        stage: stage index counted from 0 (3 = the last stage).
        stride, dilation, style, norm_cfg, norm_eval: as mmdet's ``ResLayer``.
        extra_norm: a norm layer after the stage (MoCo / mmselfsup's ``ResLayerExtraNorm``).
        init_cfg: default: the backbone's ``Pretrained`` init_cfg (the stage is part of the
            same slimmed checkpoint), else Kaiming.
    """

    def __init__(self, backbone: Optional[Mapping] = None, stage: int = 3, stride: int = 2,
                 dilation: int = 1, style: str = 'pytorch',
                 norm_cfg=dict(type='BN', requires_grad=True), norm_eval: bool = True,
                 extra_norm: bool = False, init_cfg=None):
        if backbone is None:
            raise ValueError("SubnetResLayer needs the backbone config: build the detector "
                             "with type='dspnet_mm.WithSubnetChannels' and from_backbone="
                             "{'roi_head.shared_head.backbone': 'backbone', ...}")
        pretrained = backbone.get('init_cfg')
        if init_cfg is None:
            init_cfg = copy.deepcopy(pretrained) if _is_pretrained(pretrained) else [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg)
        if not 0 < stage < NUM_STAGES:
            raise ValueError(f'stage {stage} must be in 1..{NUM_STAGES - 1}')
        strides, dilations = [1, 2, 2, 2], [1, 1, 1, 1]
        strides[stage], dilations[stage] = stride, dilation
        arch = {k: backbone[k] for k in ('depth', 'subnet', 'subnets', 'in_channels',
                                         'stem_channels', 'base_channels', 'small_input')
                if k in backbone}
        # the whole network is built once so that this stage comes from the same code (and
        # channel arithmetic) as the trunk; the other stages are dropped
        network = SlimmableResNet(**arch, strides=strides, dilations=dilations, style=style,
                                  norm_cfg=norm_cfg, out_indices=(stage, ))
        if not network.is_fixed:
            raise ValueError('SubnetResLayer needs a backbone config with subnet=...')
        self.stage, self.norm_eval = stage, norm_eval
        self.layer_name = f'layer{stage + 1}'
        self.add_module(self.layer_name, getattr(network, self.layer_name))
        self.out_channels = network.out_channels[0]
        self.norm = build_norm_layer(norm_cfg, self.out_channels)[1] if extra_norm else None

    def forward(self, x):
        x = getattr(self, self.layer_name)(x)
        return x if self.norm is None else self.norm(x)

    def train(self, mode=True):
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def _is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, Mapping) and init_cfg.get('type') == 'Pretrained'


def build_subnet_backbone(backbone: Mapping, device='meta') -> Union[SlimmableResNet,
                                                                    GatedResNet]:
    """The backbone of a config, by default without memory (``meta`` tensors): enough for
    channel counts and parameter shapes. It must be a fixed-mode ``SlimmableResNet`` (a desired
    network) or a ``GatedResNet`` (a network of a dynamic-gating checkpoint)."""
    cfg = dict(copy.deepcopy(backbone))
    cfg.pop('init_cfg', None)
    with torch.device(device):
        net = ROOT_MODELS.build(cfg)
    if not (isinstance(net, GatedResNet) or isinstance(net, SlimmableResNet) and net.is_fixed):
        raise ValueError(f"backbone {backbone.get('type')!r} must be a dspnet_mm."
                         'SlimmableResNet (or SlimmableResNetTrunk) in fixed mode, i.e. with '
                         "subnet='<desired network>', or a dspnet_mm.GatedResNet")
    return net


def subnet_stage_channels(backbone: Mapping) -> Tuple[int, ...]:
    """Output channels of each of the four stages of the network of a backbone config,
    e.g. ``(128, 256, 512, 1024)`` for a ResNet-50 desired network at width 0.5."""
    return build_subnet_backbone(backbone).stage_channels


def _channels_of(source: ChannelSource, channels: Tuple[int, ...], backbone: Mapping, path):
    if isinstance(source, str):
        if source != 'backbone':
            raise ValueError(f"from_backbone[{path!r}] = {source!r}: a string source must be "
                             "'backbone' (the backbone config itself)")
        return copy.deepcopy(dict(backbone))
    stages = [source] if isinstance(source, int) else list(source)
    if not stages or any(isinstance(i, bool) or not isinstance(i, int)
                         or not 0 <= i < NUM_STAGES for i in stages):
        raise ValueError(f'from_backbone[{path!r}] = {source!r}: expected a stage index in '
                         f"0..{NUM_STAGES - 1}, a list of them, or 'backbone'")
    values = [channels[i] for i in stages]
    return values[0] if isinstance(source, int) else values


def _set_path(cfg: dict, path: str, value):
    *parents, leaf = path.split('.')
    node = cfg
    for i, key in enumerate(parents):
        if not isinstance(node.get(key), Mapping):
            raise ValueError(f"from_backbone: the model config has no '"
                             f"{'.'.join(parents[:i + 1])}' (needed to set {path!r})")
        node = node[key]
    node[leaf] = value


def check_pretrained(backbone: Mapping, net: Optional[SlimmableResNet] = None):
    """Raise ``CheckpointError`` when the backbone's ``Pretrained`` checkpoint does not hold
    exactly the selected desired network (a missing or mis-shaped tensor).

    Checkpoints that are not local files yet (URLs, a path still to be written) are left to
    mmengine, which reports them when it loads."""
    init_cfg = backbone.get('init_cfg')
    path = init_cfg.get('checkpoint') if _is_pretrained(init_cfg) else None
    if not isinstance(path, str) or not os.path.isfile(path):
        return
    net = net or build_subnet_backbone(backbone)
    ckpt = load_checkpoint_safely(path)
    state_dict = ckpt.get('state_dict', ckpt)
    prefix = init_cfg.get('prefix')
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    expected = net.state_dict()
    bad = [k for k, v in expected.items()
           if k not in state_dict or tuple(state_dict[k].shape) != tuple(v.shape)]
    if not bad:
        return
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), Mapping) else {}
    if 'spec' in meta:
        held = f"desired network {meta.get('subnet')!r} {meta.get('spec')}"
    elif 'branch' in meta:
        held = f"the {meta['branch']} branch of a gating checkpoint"
    else:
        held = 'another network'
    if isinstance(net, GatedResNet):
        selected, fix = (f'a GatedResNet (depth {net.depth})', 'Export the gated branch with '
                         'tools/slim.py --branch gated (the dense one is a plain ResNet).')
    else:
        selected = (f'subnet {backbone.get("subnet")!r} = {net.fixed_spec.to_dict()} '
                    f'(depth {net.depth})')
        fix = ('Select the network the checkpoint holds (--cfg-options '
               'model.backbone.subnet=NAME), or slim the one you want with tools/slim.py '
               '(a pretraining checkpoint must be slimmed first).')
    raise CheckpointError(
        f'{path!r} holds {held}, but the config selects {selected}: {len(bad)} of '
        f'{len(expected)} backbone tensors are missing or mis-shaped, e.g. {bad[:3]}. {fix}')


def with_subnet_channels(model_type: str, from_backbone: Mapping[str, ChannelSource],
                         **model) -> nn.Module:
    """Build the upstream model ``model_type`` (e.g. ``'mmdet.MaskRCNN'``) from the other
    arguments, after writing the channel counts of the backbone's desired network into the
    fields named by ``from_backbone``.

    Args:
        model_type: the upstream type, with its scope (``mmdet.``, ``mmseg.``, ``mmcls.``).
        from_backbone: ``{dotted.path: source}``; a source is a stage index (0-3: that stage's
            output channels), a list of stage indices (a list of channels), or ``'backbone'``
            (a copy of the backbone config). For example ``{'neck.in_channels': [0, 1, 2, 3]}``
            for an FPN, ``{'head.in_channels': 3}`` for a linear head.
        model: the upstream model's arguments; ``backbone`` must be a fixed-mode
            ``SlimmableResNet`` (or ``SlimmableResNetTrunk``) config.
    """
    model = copy.deepcopy(model)
    backbone = model.get('backbone')
    if not isinstance(backbone, Mapping):
        raise ValueError('WithSubnetChannels needs a backbone config')
    net = build_subnet_backbone(backbone)
    channels = net.stage_channels
    for path, source in from_backbone.items():
        value = _channels_of(source, channels, backbone, path)
        _set_path(model, path, value)
        if source != 'backbone':
            print_log(f'{path} = {value} (subnet {backbone.get("subnet")!r})', 'current')
    check_pretrained(backbone, net)
    # built in the scope of model_type, so its own sub-modules resolve there, whatever scope
    # the config was inherited from (mmselfsup's benchmark configs carry _scope_='mmselfsup')
    scope, _, name = model_type.rpartition('.')
    return ROOT_MODELS.build(dict(type=name, _scope_=scope or None, **model))


MODELS.register_module(name='WithSubnetChannels', module=with_subnet_channels)
