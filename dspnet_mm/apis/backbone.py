"""The one way every tool and test reads a backbone out of a checkpoint.

A checkpoint may be an mmengine training checkpoint (``state_dict`` with ``backbone.`` keys, or
``module.backbone.`` when saved from a DDP-wrapped model, and ``meta.cfg``), a backbone-only
file (bare keys; the config comes from ``--config``), or a file written by ``tools/slim.py``
(bare keys and ``meta.backbone``). The backbone's config comes, in this order, from an explicit
config file, ``meta.backbone`` or ``meta.cfg``; its weights must cover the network exactly.
"""
import copy
from typing import Dict, Mapping, NamedTuple, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS

from dspnet_mm.models.gating.dual_bn import upgrade_gated_keys
from .checkpoint import CheckpointError, load_checkpoint_safely

BACKBONE_PREFIXES = ('backbone.', 'module.backbone.')


class LoadedBackbone(NamedTuple):
    net: nn.Module  # on CPU, in eval mode, weights loaded
    cfg: dict  # its config (with 'type', without 'init_cfg')
    checkpoint: dict  # the whole loaded checkpoint


def _short_type(cfg: Mapping) -> str:
    return str(cfg.get('type', '')).split('.')[-1]


def backbone_config(ckpt: Mapping, path: str, config: Optional[str] = None) -> dict:
    """The backbone config of checkpoint ``ckpt`` (loaded from ``path``), or of ``config``."""
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), Mapping) else {}
    if config is not None:
        backbone = Config.fromfile(config).get('model', {}).get('backbone')
        source = f'config {config}'
    elif isinstance(meta.get('backbone'), Mapping):
        backbone, source = meta['backbone'], f'meta.backbone of {path}'
    elif isinstance(meta.get('cfg'), str):
        backbone = Config.fromstring(meta['cfg'], '.py').get('model', {}).get('backbone')
        source = f'the config stored in {path}'
    else:
        raise CheckpointError(
            f'{path!r} carries no backbone metadata (no meta.cfg, as mmengine training '
            'checkpoints have, nor meta.backbone, as slimmed files have); pass the '
            'pretraining config with --config')
    if not isinstance(backbone, Mapping) or 'type' not in backbone:
        raise CheckpointError(f'{source} has no model.backbone with a type')
    backbone = copy.deepcopy(dict(backbone))
    backbone.pop('init_cfg', None)
    backbone.pop('pretrained', None)
    return backbone


def backbone_state_dict(ckpt: Mapping) -> Dict[str, torch.Tensor]:
    """The backbone's tensors of a checkpoint, without their key prefix, with today's key names
    (:func:`dspnet_mm.models.gating.upgrade_gated_keys`)."""
    sd = ckpt.get('state_dict', ckpt)
    for prefix in BACKBONE_PREFIXES:
        sub = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if sub:
            return upgrade_gated_keys(sub)
    return upgrade_gated_keys({k: v for k, v in sd.items() if isinstance(v, torch.Tensor)})


def build_backbone(cfg: Mapping) -> nn.Module:
    """A backbone from its config; ``SlimmableResNet`` or ``dspnet_mm.GatedResNet`` alike."""
    import dspnet_mm.models  # noqa: F401  (registers our types)
    cfg = dict(cfg)
    if '.' not in cfg['type']:
        cfg['type'] = f"dspnet_mm.{cfg['type']}"
    return ROOT_MODELS.build(cfg)


def load_weights(net: nn.Module, state_dict: Mapping[str, torch.Tensor], path: str,
                 what: str) -> None:
    """Load ``state_dict`` into ``net``; every tensor of ``net`` must be there with its shape.
    Extra entries (another DN's private BNs, gates a dense export dropped) are ignored."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state_dict]
    wrong = [k for k in expected
             if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if missing or wrong:
        raise CheckpointError(
            f'{path!r} does not hold the weights of the configured {what}: {len(missing)} '
            f'missing and {len(wrong)} mis-shaped tensors, e.g. {(missing + wrong)[:3]}; is '
            'it a checkpoint of another architecture?')
    net.load_state_dict({k: state_dict[k] for k in expected}, strict=True)


def load_backbone(path: str, config: Optional[str] = None,
                  types: Sequence[str] = ('SlimmableResNet', 'PlainResNet', 'GatedResNet'),
                  why: str = '') -> LoadedBackbone:
    """The backbone of checkpoint ``path`` with its weights.

    Args:
        path: an mmengine training checkpoint, a backbone-only file or a slimmed file.
        config: the pretraining config, for files that carry none.
        types: the backbone types the caller accepts (short names).
        why: appended to the error when the type is not accepted (what to do instead).
    """
    ckpt = load_checkpoint_safely(path)
    cfg = backbone_config(ckpt, path, config)
    if _short_type(cfg) not in types:
        raise CheckpointError(f"{path!r} has backbone type {cfg['type']!r}, not "
                              f"{' or '.join(types)}{': ' + why if why else ''}")
    net = build_backbone(cfg)
    what = f"{_short_type(cfg)}(depth={cfg.get('depth')})"
    load_weights(net, backbone_state_dict(ckpt), path, what)
    return LoadedBackbone(net.eval(), cfg, ckpt)
