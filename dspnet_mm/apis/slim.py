"""Slimming: cut a desired network out of a pretraining checkpoint as a plain ResNet."""
import os
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config

from dspnet_mm.models.backbones.slimmable_resnet import (SlimmableResNet,
                                                         slice_supernet_state_dict)
from .checkpoint import CheckpointError, load_checkpoint_safely

BACKBONE_PREFIXES = ('backbone.', 'module.backbone.')


def _backbone_cfg(ckpt: dict, path: str, config: Optional[str]) -> dict:
    if config is not None:
        cfg = Config.fromfile(config)
        source = f'config {config}'
    elif isinstance(ckpt.get('meta'), dict) and isinstance(ckpt['meta'].get('cfg'), str):
        cfg = Config.fromstring(ckpt['meta']['cfg'], '.py')
        source = f'the config stored in {path}'
    else:
        raise CheckpointError(
            f'{path!r} carries no subnet metadata (no meta.cfg, as mmengine training '
            'checkpoints have); pass the pretraining config with --config')
    backbone = cfg.get('model', {}).get('backbone')
    btype = (backbone or {}).get('type', '')
    if btype.split('.')[-1] != 'SlimmableResNet':
        raise CheckpointError(f'{source} has backbone type {btype!r}, not SlimmableResNet: '
                              'only DSPNet (slimmable) checkpoints can be slimmed')
    backbone = dict(backbone)
    backbone.pop('type')
    backbone.pop('init_cfg', None)
    return backbone


def _backbone_state_dict(ckpt: dict) -> Dict[str, torch.Tensor]:
    sd = ckpt.get('state_dict', ckpt)
    for prefix in BACKBONE_PREFIXES:
        sub = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if sub:
            return sub
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def load_supernet(path: str, config: Optional[str] = None) -> Tuple[SlimmableResNet, dict]:
    """The pretrained supernet (a ``SlimmableResNet`` on CPU) of an algorithm or backbone-only
    checkpoint, and the loaded checkpoint."""
    ckpt = load_checkpoint_safely(path)
    cfg = _backbone_cfg(ckpt, path, config)
    supernet = SlimmableResNet(**cfg)
    sd = _backbone_state_dict(ckpt)
    expected = supernet.state_dict()
    missing = [k for k in expected if k not in sd]
    wrong = [k for k in expected if k in sd and sd[k].shape != expected[k].shape]
    if missing or wrong:
        bad = (missing + wrong)[:3]
        raise CheckpointError(
            f'{path!r} does not hold the weights of the configured SlimmableResNet('
            f"depth={cfg.get('depth')}): {len(missing)} missing and {len(wrong)} mis-shaped "
            f'tensors, e.g. {bad}; is it a checkpoint of another architecture?')
    supernet.load_state_dict(sd, strict=False)
    return supernet, ckpt


def stock_resnet_kwargs(supernet: SlimmableResNet, subnet) -> Optional[dict]:
    """Arguments of the stock mmcls/mmdet/mmseg ``ResNet`` that reads this DN with
    ``strict=True``, or None when no stock ResNet has its shape (reduced depth, per-stage
    widths that are not a uniform scaling)."""
    spec = supernet.resolve(subnet)[0]
    ch = supernet.channels_of(spec)
    base = ch.stages[0][0]
    if spec.depths != supernet.max_depths or supernet.arch['small_input'] or any(
            mid != base * 2**i for i, (mid, _) in enumerate(ch.stages)):
        return None
    return dict(depth=supernet.arch['depth'], in_channels=supernet.arch['in_channels'],
                stem_channels=ch.stem, base_channels=base)


def subnet_summary(supernet: SlimmableResNet, subnet, input_size=None) -> dict:
    """Spec, FLOPs and params of a DN (see ``SlimmableResNet.complexity``)."""
    size = input_size or (32 if supernet.arch['small_input'] else 224)
    return dict(spec=supernet.resolve(subnet)[0].to_dict(),
                input_shape=[supernet.arch['in_channels'], size, size],
                **supernet.complexity(subnet, size))


def list_subnets(path: str, config: Optional[str] = None, input_size=None) -> List[dict]:
    supernet, _ = load_supernet(path, config)
    return [dict(name=name, **subnet_summary(supernet, name, input_size))
            for name in supernet.subnets]


def slim(path: str, subnet: str, out: Optional[str] = None, config: Optional[str] = None,
         force: bool = False, input_size=None) -> dict:
    """Extract desired network ``subnet`` from checkpoint ``path`` into a plain checkpoint.

    Returns ``dict(state_dict=..., meta=...)``; ``meta`` records the spec, FLOPs, params, the
    fixed-mode backbone config and the stock ResNet arguments (if any). Written atomically to
    ``out`` when given (an existing file is refused unless ``force``)."""
    if out is not None and os.path.exists(out) and not force:
        raise FileExistsError(f'output {out!r} exists; pass --force to overwrite it')
    supernet, _ = load_supernet(path, config)
    if not supernet.subnets and subnet is not None:
        raise CheckpointError(f'{path!r} defines no named desired networks')
    state_dict = supernet.subnet_state_dict(subnet)
    backbone = supernet.fixed_config(subnet)
    backbone['type'] = 'dspnet_mm.SlimmableResNet'
    meta = dict(subnet=subnet, source=os.path.abspath(path), backbone=backbone,
                stock_resnet=stock_resnet_kwargs(supernet, subnet),
                **subnet_summary(supernet, subnet, input_size))
    result = dict(state_dict=state_dict, meta=meta)
    if out is not None:
        save_atomically(result, out)
    return result


def save_atomically(obj, path: str):
    """``torch.save`` to a temporary file in the same folder, then rename: a crash mid-write
    leaves any previous file intact."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f'.{os.path.basename(path)}.tmp{os.getpid()}')
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
