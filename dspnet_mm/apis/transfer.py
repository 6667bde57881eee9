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
  last stage on RoIs (``dspnet_mm.models.backbones.slimmable_resnet_c4``).

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
from mmengine.logging import print_log
from mmengine.registry import MODELS as ROOT_MODELS

from dspnet_mm.models.backbones.gated_resnet import GatedResNet
from dspnet_mm.models.backbones.slimmable_resnet import SlimmableResNet
from dspnet_mm.models.backbones.slimmable_resnet_c4 import (NUM_STAGES, SlimmableResNetTrunk,
                                                            SubnetResLayer, is_pretrained)
from dspnet_mm.registry import MODELS
from .checkpoint import CheckpointError, load_checkpoint_safely

ChannelSource = Union[int, Sequence[int], str]
__all__ = ['SlimmableResNetTrunk', 'SubnetResLayer', 'build_subnet_backbone',
           'subnet_stage_channels', 'check_pretrained', 'with_subnet_channels']


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
    path = init_cfg.get('checkpoint') if is_pretrained(init_cfg) else None
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
