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
0, as mmdet, mmseg, mmcls and ``PlainResNet`` do; configs under ``configs/benchmarks``
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
from dspnet_mm.models.backbones.plain_resnet import PlainResNet
from dspnet_mm.models.gating.dual_bn import upgrade_gated_keys
from dspnet_mm.models.backbones.slimmable_resnet_c4 import (NUM_STAGES, SlimmableResNetTrunk,
                                                            SubnetResLayer, is_pretrained)
from dspnet_mm.registry import MODELS, WEIGHT_INITIALIZERS
from .checkpoint import CheckpointError, load_checkpoint_safely

ChannelSource = Union[int, Sequence[int], str]
__all__ = ['SlimmableResNetTrunk', 'SubnetResLayer', 'build_subnet_backbone',
           'subnet_stage_channels', 'check_pretrained', 'with_subnet_channels',
           'DOWNSTREAM_TARGETS', 'downstream_config', 'StrictPretrainedInit']


def build_subnet_backbone(backbone: Mapping, device='meta') -> Union[PlainResNet, GatedResNet]:
    """The backbone of a config, by default without memory (``meta`` tensors): enough for
    channel counts and parameter shapes. It must be a ``PlainResNet`` (a desired network, also
    as ``SlimmableResNet(subnet=...)``) or a ``GatedResNet`` (a network of a dynamic-gating
    checkpoint)."""
    cfg = dict(copy.deepcopy(backbone))
    cfg.pop('init_cfg', None)
    with torch.device(device):
        net = ROOT_MODELS.build(cfg)
    if not isinstance(net, (PlainResNet, GatedResNet)):
        raise ValueError(f"backbone {backbone.get('type')!r} without subnet= is not one network: "
                         "give dspnet_mm.PlainResNet (or SlimmableResNetTrunk) with "
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


def check_pretrained(backbone: Mapping, net: Optional[PlainResNet] = None):
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
    state_dict = upgrade_gated_keys(state_dict)
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
        selected = (f'subnet {backbone.get("subnet")!r} = {net.spec.to_dict()} '
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
        model: the upstream model's arguments; ``backbone`` must be a ``PlainResNet`` (or
            ``SlimmableResNetTrunk``, or ``GatedResNet``) config.
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


# ---------------------------------------------------------------------------------------------
# ready-to-paste downstream configs for a slimmed network (``tools/slim.py --print-config``)

DOWNSTREAM_TARGETS = ('mmdet-fpn', 'mmdet-c4', 'mmseg-fcn', 'mmseg-upernet', 'mmcls',
                      'mmcls-fmnist')
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BASES = {
    'mmdet-fpn': 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    'mmdet-c4': 'mmdet::mask_rcnn/mask-rcnn_r50-caffe-c4_1x_coco.py',
    'mmseg-fcn': 'mmseg::fcn/fcn_r50-d8_4xb4-20k_voc12aug-512x512.py',
    'mmseg-upernet': 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py',
    'mmcls': 'mmcls::resnet/resnet50_8xb32_in1k.py',
    # the CPU demo: fine-tune a Fashion-MNIST DN on Fashion-MNIST (a config of this checkout)
    'mmcls-fmnist': os.path.join(_REPO, 'configs', 'benchmarks', '_base_', 'fmnist_cls.py'),
}
_RGB = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)


def _py(value, indent: int = 0) -> str:
    """Python source of a config value (dicts as ``dict(...)``, one key per line)."""
    pad = ' ' * (indent + 4)
    if isinstance(value, Mapping):
        if not value:
            return 'dict()'
        if all(isinstance(k, str) and k.isidentifier() for k in value):
            items = [f'{pad}{k}={_py(v, indent + 4)}' for k, v in value.items()]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{k!r}: {_py(v, indent + 4)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '}'
    if isinstance(value, tuple):
        return '(' + ', '.join(_py(v, indent) for v in value) + (',)' if len(value) == 1
                                                                     else ')')
    if isinstance(value, list):
        return '[' + ', '.join(_py(v, indent) for v in value) + ']'
    return repr(value)


def downstream_config(meta: Mapping, target: str, checkpoint: str) -> str:
    """A complete downstream config (upstream base + our backbone) for the network that
    ``tools/slim.py`` wrote to ``checkpoint`` with ``meta``: channel counts filled in, nothing
    to compute by hand. ``target`` is one of :data:`DOWNSTREAM_TARGETS`."""
    if target not in DOWNSTREAM_TARGETS:
        raise ValueError(f'downstream target {target!r} is not one of {DOWNSTREAM_TARGETS}')
    backbone = dict(meta['backbone'])
    if 'GatedResNet' in backbone.get('type', '') and target == 'mmdet-c4':
        raise ValueError('the C4 split (SlimmableResNetTrunk) exists for desired networks and '
                         'dense exports, not for the gated network; use mmdet-fpn')
    c = list(meta['stage_channels'])
    init = dict(type='Pretrained', checkpoint=os.path.abspath(checkpoint))
    for key in ('init_cfg', 'out_indices', 'norm_cfg', 'norm_eval', 'frozen_stages', 'style',
                'strides', 'dilations'):
        backbone.pop(key, None)
    if backbone.get('subnets') is not None and isinstance(backbone.get('subnet'), str):
        backbone['subnet'] = dict(backbone['subnets'][backbone['subnet']])  # the spec itself
    backbone.pop('subnets', None)
    bn = dict(type='BN', requires_grad=True)
    syncbn = dict(type='SyncBN', requires_grad=True)
    model: dict
    if target == 'mmdet-fpn':  # mmdet's own settings for a ResNet under FPN, kept explicit
        model = dict(backbone=dict(_delete_=True, **backbone, out_indices=(0, 1, 2, 3),
                                   frozen_stages=1, norm_cfg=bn, norm_eval=True,
                                   style='pytorch', init_cfg=init),
                     neck=dict(in_channels=c))
    elif target == 'mmdet-c4':  # stages 1-3 on the image, stage 4 on RoIs (same checkpoint)
        trunk = {k: v for k, v in backbone.items() if k != 'type'}
        model = dict(
            data_preprocessor=_RGB,
            backbone=dict(_delete_=True, type='dspnet_mm.SlimmableResNetTrunk', **trunk,
                          num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
                          out_indices=(2, ), frozen_stages=-1, norm_cfg=syncbn,
                          norm_eval=False, style='pytorch', init_cfg=init),
            rpn_head=dict(in_channels=c[2]),
            roi_head=dict(
                shared_head=dict(_delete_=True, type='dspnet_mm.SubnetResLayer',
                                 backbone=dict(**trunk, init_cfg=init),
                                 stage=3, stride=2, dilation=1, style='pytorch',
                                 norm_cfg=syncbn, norm_eval=False, extra_norm=True),
                bbox_roi_extractor=dict(out_channels=c[2]),
                bbox_head=dict(in_channels=c[3]),
                mask_head=dict(in_channels=c[3])))
    elif target in ('mmseg-fcn', 'mmseg-upernet'):
        fcn = target == 'mmseg-fcn'
        model = dict(
            pretrained=None,  # mmseg's ImageNet ResNetV1c weights: ours come from init_cfg
            backbone=dict(_delete_=True, **backbone, out_indices=(0, 1, 2, 3),
                          strides=(1, 2, 1, 1) if fcn else (1, 2, 2, 2),
                          dilations=(1, 1, 2, 4) if fcn else (1, 1, 1, 1),
                          norm_cfg=syncbn, norm_eval=False, style='pytorch', init_cfg=init),
            decode_head=dict(in_channels=c[3] if fcn else c),
            auxiliary_head=dict(in_channels=c[2]))
    else:  # mmcls: ImageNet (mmcls-fmnist: Fashion-MNIST) head on the last stage
        model = dict(backbone=dict(_delete_=True, **backbone, out_indices=(3, ),
                                   norm_cfg=bn, style='pytorch', init_cfg=init),
                     head=dict(in_channels=c[3]))
    lines = [f'# {target} config for {os.path.basename(checkpoint)} (stage channels {c}),',
             '# written by tools/slim.py --print-config; inherit it or paste it.',
             f'_base_ = {_BASES[target]!r}',
             "custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)",
             f'model = {_py(model)}']
    return '\n'.join(lines) + '\n'


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrainedInit:
    """``init_cfg=dict(type='dspnet_mm.StrictPretrained', checkpoint=PATH)``: mmengine's
    ``Pretrained`` (which loads non-strictly and only *warns* about a mis-shaped tensor, then
    trains on from random weights), but every tensor of the module must be in the checkpoint
    with its shape, or the run stops before training with the settings that would fit.

    For the stock mmcls/mmdet/mmseg ``ResNet`` route: a slimmed file records the stock
    ``ResNet`` arguments that read it (``meta.stock_resnet``, e.g. ``stem_channels=32,
    base_channels=32``), and the error names them.
    """

    def __init__(self, checkpoint: str, prefix: Optional[str] = None, map_location='cpu'):
        self.checkpoint, self.prefix, self.map_location = checkpoint, prefix, map_location

    def __call__(self, module: nn.Module):
        ckpt = load_checkpoint_safely(self.checkpoint, self.map_location)
        state_dict = dict(ckpt.get('state_dict', ckpt))
        if self.prefix:
            prefix = self.prefix if self.prefix.endswith('.') else self.prefix + '.'
            state_dict = {k[len(prefix):]: v for k, v in state_dict.items()
                          if k.startswith(prefix)}
        expected = module.state_dict()
        bad = [k for k, v in expected.items()
               if k not in state_dict or tuple(state_dict[k].shape) != tuple(v.shape)]
        if bad:
            meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), Mapping) else {}
            stock = meta.get('stock_resnet')
            fix = (f'the checkpoint holds a ResNet with {stock}: set those in the backbone '
                   'config' if stock else 'check the backbone settings against the '
                   "checkpoint's meta (tools/slim.py prints them)")
            k = bad[0]
            got = tuple(state_dict[k].shape) if k in state_dict else 'missing'
            raise CheckpointError(
                f'{self.checkpoint!r} does not fit {type(module).__name__}: {len(bad)} of '
                f'{len(expected)} tensors missing or mis-shaped, e.g. {k} expects '
                f'{tuple(expected[k].shape)}, checkpoint has {got}; {fix}')
        module.load_state_dict({k: state_dict[k] for k in expected}, strict=True)
        print_log(f'loaded every tensor of {type(module).__name__} from {self.checkpoint}',
                  'current')

    def _get_init_info(self):
        return f'{self.__class__.__name__}: load from {self.checkpoint} (strict)'
