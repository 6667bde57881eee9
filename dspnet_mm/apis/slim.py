"""Slimming: cut a desired network out of a pretraining checkpoint as a plain ResNet."""
import io
import os
from typing import List, Optional, Tuple

import torch

from dspnet_mm.engine.atomic_backend import atomic_write
from dspnet_mm.models.backbones.plain_resnet import PlainResNet, plain_complexity
from dspnet_mm.models.backbones.slimmable_resnet import SlimmableResNet
from dspnet_mm.models.slimmable.subnet import SubnetSpec
from .backbone import load_backbone
from .checkpoint import CheckpointError

BRANCHES = ('dense', 'gated')
NOT_SLIMMABLE = ('only DSPNet (slimmable) checkpoints can be slimmed (export a network of a '
                 'gating checkpoint with --branch dense|gated)')
NOT_GATED = ('only dynamic-gating (VICReg-Gating, VICReg-Dual-Gating) checkpoints have dense '
             'and gated branches')


def load_supernet(path: str, config: Optional[str] = None) -> Tuple[SlimmableResNet, dict]:
    """The pretrained supernet (a ``SlimmableResNet`` on CPU) of an algorithm or backbone-only
    checkpoint, and the loaded checkpoint."""
    supernet, cfg, ckpt = load_backbone(path, config, ('SlimmableResNet', ), NOT_SLIMMABLE)
    if not isinstance(supernet, SlimmableResNet):  # the old name of PlainResNet
        raise CheckpointError(f'{path!r} holds one plain network (subnet '
                              f"{cfg.get('subnet')!r}), not a supernet: it is already slim")
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


def shape_summary(arch: dict, spec: SubnetSpec, input_size=None) -> dict:
    """Spec, input shape, FLOPs and params of the plain network of ``spec`` in the ResNet
    family ``arch`` (see :func:`dspnet_mm.models.backbones.plain_resnet.plain_complexity`)."""
    size = input_size or (32 if arch['small_input'] else 224)
    return dict(spec=spec.to_dict(), input_shape=[arch['in_channels'], size, size],
                **plain_complexity(arch, spec, size))


def subnet_summary(supernet: SlimmableResNet, subnet, input_size=None) -> dict:
    """:func:`shape_summary` of a DN of the supernet."""
    return shape_summary(supernet.arch, supernet.resolve(subnet)[0], input_size)


def network_summary(net: PlainResNet, input_size=None) -> dict:
    """:func:`shape_summary` of a plain network."""
    return shape_summary(net.arch, net.spec, input_size)


def list_subnets(path: str, config: Optional[str] = None, input_size=None) -> List[dict]:
    supernet, _ = load_supernet(path, config)
    return [dict(name=name, **subnet_summary(supernet, name, input_size))
            for name in supernet.subnets]


def slim(path: str, subnet: str, out: Optional[str] = None, config: Optional[str] = None,
         force: bool = False, input_size=None, extra_meta: Optional[dict] = None) -> dict:
    """Extract desired network ``subnet`` from checkpoint ``path`` into a plain checkpoint.

    Returns ``dict(state_dict=..., meta=...)``; ``meta`` records the spec, FLOPs, params, the
    per-stage output channels, the stock ResNet arguments (if any) and ``backbone``: a config
    that works downstream as is (all four stages out, plain BN, ``init_cfg`` loading ``out``),
    and ``extra_meta`` (e.g. the latency ``tools/pick.py`` measured).
    Written atomically to ``out`` when given (an existing file is refused unless ``force``)."""
    if out is not None and os.path.exists(out) and not force:
        raise FileExistsError(f'output {out!r} exists; pass --force to overwrite it')
    supernet, _ = load_supernet(path, config)
    if not supernet.subnets and subnet is not None:
        raise CheckpointError(f'{path!r} defines no named desired networks')
    return slim_supernet(supernet, subnet, path, out, force, input_size, extra_meta)


def slim_supernet(supernet: SlimmableResNet, subnet, source: str, out: Optional[str] = None,
                  force: bool = False, input_size=None,
                  extra_meta: Optional[dict] = None) -> dict:
    """:func:`slim` of a supernet already in memory (e.g. one whose shared BN was
    re-calibrated for ``subnet``, a spec); ``source`` is the checkpoint it came from."""
    if out is not None and os.path.exists(out) and not force:
        raise FileExistsError(f'output {out!r} exists; pass --force to overwrite it')
    network = supernet.export(subnet)
    state_dict = network.state_dict()
    # downstream, not pretraining, settings: an FPN reads all four stages; SyncBN needs a
    # distributed run, plain BN works everywhere (downstream configs choose their own)
    backbone = dict(network.config(), out_indices=(0, 1, 2, 3),
                    norm_cfg=dict(type='BN', requires_grad=True))
    if out is not None:
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=os.path.abspath(out))
    # the per-stage output channels: what FPN / decode-head / RoI in_channels must be
    stage_channels = list(network.stage_channels)
    meta = dict(subnet=subnet, source=os.path.abspath(source), backbone=backbone,
                stage_channels=stage_channels,
                stock_resnet=stock_resnet_kwargs(supernet, subnet),
                **subnet_summary(supernet, subnet, input_size), **(extra_meta or {}))
    result = dict(state_dict=state_dict, meta=meta)
    if out is not None:
        save_atomically(result, out)
    return result


def export_branch(path: str, branch: str, out: Optional[str] = None,
                  config: Optional[str] = None, force: bool = False,
                  extra_meta: Optional[dict] = None) -> dict:
    """One branch of a dynamic-gating checkpoint (a ``GatedResNet`` backbone) as a checkpoint
    for downstream models.

    - ``'dense'``: the dense network (gates off): the shared convs with the dense branch's BNs,
      key for key a plain ResNet, which mmdet/mmseg/mmcls ``ResNet`` loads strict
      (``meta.stock_resnet``) and ``SlimmableResNet`` (``meta.backbone``) for small-input stems.
    - ``'gated'``: the gated network for gated inference downstream: the whole backbone (gates
      and both BN sets), read by ``GatedResNet(..., gated=True)`` (``meta.backbone``).

    Returns ``dict(state_dict=..., meta=...)`` (``meta`` ends with ``extra_meta``), written
    atomically to ``out`` when given."""
    if branch not in BRANCHES:
        raise ValueError(f'branch {branch!r} is not one of {BRANCHES}')
    if out is not None and os.path.exists(out) and not force:
        raise FileExistsError(f'output {out!r} exists; pass --force to overwrite it')
    gating_net = load_backbone(path, config, ('GatedResNet', ), NOT_GATED).net
    net, backbone = gating_net.export(branch)
    if branch == 'dense':  # downstream settings, as slim() writes them
        backbone.update(out_indices=(0, 1, 2, 3), norm_cfg=dict(type='BN', requires_grad=True))
    state_dict = net.state_dict()
    args = gating_net.init_args
    stock = None if branch == 'gated' or args['small_input'] else {
        k: args[k] for k in ('depth', 'in_channels', 'stem_channels', 'base_channels')}
    meta = dict(branch=branch, source=os.path.abspath(path), backbone=backbone,
                stock_resnet=stock, stage_channels=list(net.stage_channels),
                params=sum(v.numel() for k, v in state_dict.items()
                           if not k.endswith(('running_mean', 'running_var',
                                              'num_batches_tracked'))),
                **(extra_meta or {}))
    result = dict(state_dict=state_dict, meta=meta)
    if out is not None:
        save_atomically(result, out)
    return result


def save_atomically(obj, path: str):
    """``torch.save`` through :func:`dspnet_mm.engine.atomic_write`: a crash mid-write leaves
    any previous file intact."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getvalue())
