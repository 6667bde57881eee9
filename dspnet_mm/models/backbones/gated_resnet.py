"""GatedResNet: a ResNet whose residual blocks compute only the middle channels their channel
gate selects for each image (dynamic-gating VICReg, Krishna et al., BMVC 2023), with a dense
and a gated branch that share every weight but the BNs of the blocks (dual BN)."""
import math
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer

from dspnet_mm.registry import MODELS
from ..gating.gate import ChannelGate
from ..gating.gated_flops import FLOPS_CONVENTIONS, GatedFlops, count_gated_flops
from ..gating.dual_bn import DualBatchNorm2d
from ..utils.resnet_skeleton import (BasicBlock, Bottleneck, ResNetSkeleton, arch_of,
                                     full_channels)
from .plain_resnet import PlainResNet


# When the sparse path runs, by design (no timing at import). Reading a block's active
# channels costs one host synchronisation plus a dozen more operators, and convolutions with
# the odd channel counts of a mask. On a GPU that never paid off where it was measured
# (docs/results/gated_paths_cuda*.json, one H200, ResNet-18 at 224 px, density 0.3, fp32 and
# bf16: slower than dense x mask at batch 1 to 128, level at 256, never faster than the dense
# network), so CUDA runs dense x mask. A block
# whose dense multiply-accumulates on the batch (conv1 + conv2, known on the host for free)
# are fewer than ``SPARSE_MIN_MACS[device type]`` runs dense x mask (no synchronisation);
# ``tools/benchmarks/gated_paths.py --min-gmacs`` measures other thresholds.
SPARSE_MIN_MACS = {'cpu': 0, 'cuda': math.inf}
# The union of the batch's masks keeping more than this fraction of a block's channels runs
# dense x mask: about the same FLOPs, fewer operators.
SPARSE_MAX_UNION = 0.75


class GatedBlockMixin:
    """The gating shared by both block types: a gate reads the block input ``x`` and masks the
    outputs of ``conv1`` (after BN and ReLU), i.e. the input channels of ``conv2``:
    ``out = relu(bn1(conv1(x))) * mask; out = conv2(out); ...``.

    ``gated`` (set by the backbone) selects the branch. In eval with ``sparse_inference`` the
    gated branch computes only the filters of conv1 that some image of the batch keeps and the
    matching input channels of conv2, which is what saves time (where it pays off, see
    ``SPARSE_MIN_MACS``)."""

    def _init_gate(self, gate_reduction: int, gate_tau: float, gate_norm_cfg: dict):
        self.gate = ChannelGate(self.conv1.in_channels, self.conv1.out_channels,
                                gate_reduction, gate_tau, gate_norm_cfg)
        self.gated = False
        self.sparse_inference = True
        self.last_mask: Optional[torch.Tensor] = None
        self.capacity: Optional[int] = None  # see GatedResNet.set_capacities
        self.last_overflow: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        if not self.gated:
            self.last_mask = None
            out = self.conv2(self.relu(self.bn1(self.conv1(x))))
            return self.after_conv2(out, identity)
        mask = self.gate(x)
        self.last_mask = mask
        if self.sparse_inference and not self.training and self.capacity is not None:
            return self.after_conv2(self.capped_conv2(x, mask), identity)
        if self.sparse_inference and not self.training and self.sparse_pays_off(x):
            out = self.sparse_conv2(x, mask)
            if out is not None:
                return self.after_conv2(out, identity)
        out = self.relu(self.bn1(self.conv1(x))) * mask[:, :, None, None]
        return self.after_conv2(self.conv2(out), identity)

    def after_conv2(self, out: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sparse_pays_off(self, x: torch.Tensor) -> bool:
        """Whether this block has the work on ``x`` that the sparse path's host
        synchronisation needs on ``x``'s device (``SPARSE_MIN_MACS``)."""
        need = SPARSE_MIN_MACS.get(x.device.type, SPARSE_MIN_MACS['cuda'])
        return need <= 0 or (need < math.inf and self.dense_macs(x) >= need)

    def dense_macs(self, x: torch.Tensor) -> int:
        """Multiply-accumulates of conv1 and conv2 on the batch ``x``, every channel on."""
        macs, h, w = 0, x.size(2), x.size(3)
        for conv in (self.conv1, self.conv2):
            h, w = _conv_out_size(conv, h, w)
            k = conv.kernel_size[0] * conv.kernel_size[1]
            macs += h * w * conv.out_channels * conv.in_channels * k
        return x.size(0) * macs

    def sparse_conv2(self, x: torch.Tensor, mask: torch.Tensor) -> Optional[torch.Tensor]:
        """``conv2(relu(bn1(conv1(x))) * mask)`` computing only the channels that some image
        of the batch keeps (the union of the masks; the images that drop one of them get it
        zeroed). One host synchronisation per block, whatever the batch: the union's size.

        Args:
            x: block input (N, C_in, H, W).
            mask: (N, C_mid) of 0./1.
        Returns:
            conv2's output (N, C_conv2_out, H', W'), or None when the union keeps more than
            ``SPARSE_MAX_UNION`` of the channels (then dense x mask is as fast).
        """
        channels = mask.size(1)
        union = mask[0] if mask.size(0) == 1 else mask.amax(0)
        idx = union.nonzero().flatten()  # the host synchronisation
        if idx.numel() > SPARSE_MAX_UNION * channels:
            return None
        out = self._active_conv1(x, idx)
        if mask.size(0) > 1:
            out = out * mask.index_select(1, idx)[:, :, None, None]
        return self._active_conv2(out, idx)

    def capped_conv2(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``conv2(relu(bn1(conv1(x))) * mask)`` computing exactly ``self.capacity`` channels:
        the union of the batch's masks, topped up with channels no image keeps (zeroed by the
        mask). No shape depends on the masks, so nothing waits for the device and a CUDA graph
        can capture it. If the union is larger than the capacity the result is wrong:
        ``self.last_overflow`` (a 0-dim bool tensor on the device) says so, and
        ``GatedResNet.forward`` then computes the batch again without capacities.

        Args:
            x: block input (N, C_in, H, W).
            mask: (N, C_mid) of 0./1.
        Returns:
            conv2's output (N, C_conv2_out, H', W').
        """
        union = mask.amax(0)
        idx = union.topk(self.capacity, sorted=False).indices  # every 1 before any 0
        self.last_overflow = union.sum() > self.capacity
        out = self._active_conv1(x, idx) * mask.index_select(1, idx)[:, :, None, None]
        return self._active_conv2(out, idx)

    def _active_conv1(self, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``relu(bn1(conv1(x)))`` for the output channels ``idx`` only."""
        c1, channels = self.conv1, self.conv1.out_channels
        if idx.numel() == 0:  # every channel off
            return x.new_zeros(x.size(0), 0, *_conv_out_size(c1, x.size(2), x.size(3)))
        mean, var, weight, bias, eps = _active_bn_state(self.bn1)
        w1 = c1.weight
        if idx.numel() < channels:  # (all channels on: no copies)
            w1 = w1.index_select(0, idx)
            mean, var = mean.index_select(0, idx), var.index_select(0, idx)
            weight = None if weight is None else weight.index_select(0, idx)
            bias = None if bias is None else bias.index_select(0, idx)
        out = F.conv2d(x, w1, None, c1.stride, c1.padding, c1.dilation)
        return F.relu(F.batch_norm(out, mean, var, weight, bias, False, 0., eps), inplace=True)

    def _active_conv2(self, out: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``conv2`` reading only its input channels ``idx`` (``out`` holds those)."""
        c2 = self.conv2
        if idx.numel() == 0:  # conv2 sees zeros and outputs zeros
            h, w = _conv_out_size(c2, out.size(2), out.size(3))
            return out.new_zeros(out.size(0), c2.out_channels, h, w)
        w2 = c2.weight if idx.numel() == c2.in_channels else c2.weight.index_select(1, idx)
        return F.conv2d(out, w2, None, c2.stride, c2.padding, c2.dilation)


class GatedBasicBlock(GatedBlockMixin, BasicBlock):
    """BasicBlock whose conv1 outputs (= conv2 inputs) are gated."""

    def __init__(self, *args, gate_reduction: int = 4, gate_tau: float = 2 / 3,
                 gate_norm_cfg: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_gate(gate_reduction, gate_tau, gate_norm_cfg)

    def after_conv2(self, out, identity):
        return self.relu(self.bn2(out) + identity)


class GatedBottleneck(GatedBlockMixin, Bottleneck):
    """Bottleneck whose conv1 outputs (= the 3x3 conv2's inputs) are gated; conv2's outputs
    and conv3 stay dense."""

    def __init__(self, *args, gate_reduction: int = 4, gate_tau: float = 2 / 3,
                 gate_norm_cfg: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_gate(gate_reduction, gate_tau, gate_norm_cfg)

    def after_conv2(self, out, identity):
        out = self.relu(self.bn2(out))
        return self.relu(self.bn3(self.conv3(out)) + identity)


GATED_BLOCKS = {BasicBlock: GatedBasicBlock, Bottleneck: GatedBottleneck}


@MODELS.register_module()
class GatedResNet(ResNetSkeleton):
    """ResNet with a channel gate in every residual block and two branches.

    ``forward(x, gated=False)`` is the dense network; ``forward(x, gated=True)`` the gated one,
    whose masks (one (N, C_mid) tensor per block) ``forward_gated`` also returns. Convs, gates
    and the stem are shared by both branches; with ``dual_bn`` the BNs of a block's residual
    branch (and, with ``dual_bn_shortcut``, of its shortcut) have a second set of parameters
    and statistics for the gated branch (``layer1.0.bn1.gated_bn.*``, a
    :class:`DualBatchNorm2d`; checkpoints from before it say ``subnet_bns.gated``). The reference
    code (``--separate_bn``) duplicates only ``bn1``/``bn2``: ``dual_bn_shortcut=False``.
    The dense branch keeps the standard key names, so
    a stock mmcls/mmdet/mmseg ``ResNet`` loads the dense network (``strict=False`` leaves only
    the ``gate`` and ``gated_bn`` keys over).

    Args:
        depth: 18, 34 (BasicBlock) or 50, 101 (Bottleneck).
        dual_bn: separate BNs for the gated branch (the BMVC method); False for a single
            gated stream (VICReg-Gating).
        dual_bn_shortcut: with ``dual_bn``, also give the downsample shortcut's BN a gated
            copy (True); False shares it between the branches, as the reference does.
        gate_reduction: the gate's hidden width is C_in // gate_reduction.
        gate_tau: temperature of the gate's binary-concrete relaxation.
        gate_norm_cfg: the gates' BN (single, shared by both branches); None = plain BN. The
            reference's SyncBN conversion covers it: ``dict(type='SyncBN')``.
        stem_padding: padding of the stem conv; None = standard (1 for ``small_input``).
            The reference's CIFAR stem is 3x3, stride 1, padding 2 (maps 34/17/9/5).
        flops_convention: what ``flops(shape)`` (and so the sparsity loss) counts by default:
            ``'mmengine'`` (convs, BN, pooling) or ``'reference'`` (conv multiply-accumulates
            and the gates' 1x1 convs, as the paper's FLOPs); see ``models/gating/gated_flops.py``.
        sparse_inference: in eval, compute only the active channels of the gated branch
            (same output as the masked dense computation, less time).
        gated: the branch ``forward(x)`` runs when the caller does not say (downstream
            models call ``backbone(x)``): False = dense (gates off), True = gated inference.
        norm_cfg: ``dict(type='BN' | 'SyncBN', ...)``.
        Other arguments as in :class:`ResNetSkeleton` (mmcls ``ResNet`` conventions,
        ``out_indices`` counted from the first stage).
    """

    def __init__(self, depth: int, in_channels: int = 3, stem_channels: int = 64,
                 base_channels: int = 64, strides=(1, 2, 2, 2), dilations=(1, 1, 1, 1),
                 out_indices=(3, ), style='pytorch', small_input: bool = False,
                 frozen_stages: int = -1, norm_cfg=dict(type='BN', requires_grad=True),
                 norm_eval: bool = False, zero_init_residual: bool = False,
                 dual_bn: bool = True, gate_reduction: int = 4, gate_tau: float = 2 / 3,
                 sparse_inference: bool = True, gated: bool = False, init_cfg=None,
                 dual_bn_shortcut: bool = True, gate_norm_cfg: Optional[dict] = None,
                 stem_padding: Optional[int] = None, flops_convention: str = 'mmengine'):
        # the constructor's arguments (taken before any other local), for export()
        self.init_args = {k: v for k, v in locals().items() if k not in ('self', '__class__')}
        block, max_depths = arch_of(depth)
        if flops_convention not in FLOPS_CONVENTIONS:
            raise ValueError(f'flops_convention {flops_convention!r}: choose one of '
                             f'{FLOPS_CONVENTIONS}')
        self.flops_convention = flops_convention
        if norm_cfg.get('type', 'BN') not in ('BN', 'SyncBN'):
            raise ValueError(f"norm_cfg type {norm_cfg.get('type')!r}: GatedResNet supports "
                             "'BN' and 'SyncBN'")
        self.norm_cfg = dict(norm_cfg)
        self.dual_bn = dual_bn
        self.gated = bool(gated)
        self.gate_cfg = dict(gate_reduction=gate_reduction, gate_tau=gate_tau,
                             gate_norm_cfg=gate_norm_cfg)
        channels = full_channels(stem_channels, base_channels, block.expansion)
        super().__init__(depth, channels, max_depths, in_channels, strides, dilations,
                         out_indices, style, small_input, frozen_stages, norm_eval,
                         zero_init_residual, init_cfg, stem_padding=stem_padding)
        self.dual_bn_shortcut = dual_bn_shortcut
        if dual_bn and not dual_bn_shortcut:  # one BN per shortcut, shared by both branches
            for name in self.res_layers:
                for blk in getattr(self, name):
                    if blk.downsample is not None:
                        blk.downsample[1] = self.make_norm(blk.downsample[1].num_features,
                                                           'out', stage=-1, block=0)
            self._freeze_stages()  # the new BNs of frozen stages are frozen too
        # plain lists (not registered twice): switched on every forward
        self._blocks = [blk for name in self.res_layers for blk in getattr(self, name)]
        self._dual_bns = [m for m in self.modules() if isinstance(m, DualBatchNorm2d)]
        self.set_sparse_inference(sparse_inference)
        self._flops_cache: Dict[Tuple[int, ...], GatedFlops] = {}

    def export(self, branch: str) -> Tuple[nn.Module, dict]:
        """One branch as a network of its own, in eval mode, and its config (with ``type``).

        - ``'dense'``: gates off, the shared convs with the dense branch's BNs: a plain ResNet
          (a :class:`PlainResNet`, key for key mmcls/mmdet/mmseg ``ResNet``).
        - ``'gated'``: a copy of this network that runs its gated branch by default.
        """
        args = {k: v for k, v in self.init_args.items() if k != 'init_cfg'}
        if branch == 'dense':
            keep = ('depth', 'in_channels', 'stem_channels', 'base_channels', 'strides',
                    'dilations', 'out_indices', 'style', 'small_input', 'norm_cfg',
                    'stem_padding')
            net = PlainResNet(**{k: args[k] for k in keep})  # the whole network, plain layers
            net.load_state_dict({k: v for k, v in self.state_dict().items()
                                 if '.gate.' not in k and '.gated_bn.' not in k},
                                strict=True)
            return net.eval(), net.config()
        if branch == 'gated':
            cfg = dict(args, gated=True)
            net = GatedResNet(**cfg)
            net.load_state_dict(self.state_dict(), strict=True)
            return net.eval(), dict(type='dspnet_mm.GatedResNet', **cfg)
        raise ValueError(f"branch {branch!r} is not one of ('dense', 'gated')")

    # ---------------------------------------------------------------- construction
    def make_conv(self, in_channels, out_channels, kernel_size, stride, padding, dilation):
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         bias=False)

    def make_norm(self, num_features, role, stage, block):
        if stage < 0 or not self.dual_bn:  # the stem is shared by both branches
            return build_norm_layer(self.norm_cfg, num_features)[1]
        cfg = {k: v for k, v in self.norm_cfg.items() if k in ('eps', 'momentum')}
        bn = DualBatchNorm2d(num_features, sync=self.norm_cfg.get('type') == 'SyncBN', **cfg)
        if not self.norm_cfg.get('requires_grad', True):
            bn.requires_grad_(False)
        return bn

    def make_block(self, block_cls, stage, block, **kwargs):
        return GATED_BLOCKS[block_cls](**kwargs, **self.gate_cfg)

    @property
    def gated_blocks(self) -> List[GatedBlockMixin]:
        """Every block, in forward order (one mask each)."""
        return self._blocks

    def set_sparse_inference(self, enabled: bool):
        """Choose the eval-mode gated computation: only active channels, or dense x mask."""
        for blk in self.gated_blocks:
            blk.sparse_inference = enabled

    def set_capacities(self, capacities: Optional[Sequence[Optional[int]]]):
        """Static shapes for the eval-mode gated branch (with ``sparse_inference``): block ``i``
        computes exactly ``capacities[i]`` of its middle channels (the union of the batch's
        masks, topped up with dropped ones), so no block waits for the device and the branch
        can be replayed as a CUDA graph. ``None`` for a block (or for all) = the rules of
        ``SPARSE_MIN_MACS``. A batch whose union outgrows a capacity is computed again
        without them (same output, the time of two passes); ``calibrate_capacities`` picks
        capacities that hold a sample of batches.

        Args:
            capacities: one entry per block in forward order, each None or an int in
                [1, C_mid); or None to clear them all.
        """
        blocks = self.gated_blocks
        capacities = [None] * len(blocks) if capacities is None else list(capacities)
        if len(capacities) != len(blocks):
            raise ValueError(f'capacities: {len(capacities)} given, the network has '
                             f'{len(blocks)} gated blocks (one capacity each, or None)')
        for i, (blk, cap) in enumerate(zip(blocks, capacities)):
            channels = blk.gate.out_channels
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int)
                                    or not 1 <= cap < channels):
                raise ValueError(f'capacities[{i}] = {cap!r}: block {i} gates {channels} '
                                 f'channels; a capacity is an int in [1, {channels - 1}] '
                                 '(None: no capacity)')
        for blk, cap in zip(blocks, capacities):
            blk.capacity = cap

    @torch.no_grad()
    def calibrate_capacities(self, batches: Iterable[torch.Tensor], multiple: int = 8
                             ) -> List[Optional[int]]:
        """Capacities that hold every batch of ``batches`` (give batches of the size to be
        served: the union grows with it): per block the largest union of the batch masks,
        rounded up to a multiple of ``multiple`` (tensor cores like multiples of 8); None
        where that is not below C_mid. Runs the gated branch in eval mode; returns the list
        for ``set_capacities`` without setting it."""
        if multiple < 1:
            raise ValueError(f'multiple {multiple!r}: must be at least 1')
        largest = [0] * len(self.gated_blocks)
        was_training = self.training
        self.eval()
        try:
            for x in batches:
                _, masks = self.forward_gated(x)
                largest = [max(n, int(m.amax(0).sum())) for n, m in zip(largest, masks)]
        finally:
            self.train(was_training)
        caps = [max(-(-n // multiple) * multiple, multiple) for n in largest]
        return [cap if cap < blk.gate.out_channels else None
                for cap, blk in zip(caps, self.gated_blocks)]

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor, gated: Optional[bool] = None) -> Tuple[torch.Tensor, ...]:
        """(N, C, H, W) -> feature maps of ``out_indices``, from the dense or gated branch
        (default: the one chosen at construction)."""
        outs, overflow = self.forward_capped(x, gated)
        if overflow is not None and bool(overflow):  # the one host synchronisation
            capacities = [blk.capacity for blk in self.gated_blocks]
            self.set_capacities(None)
            try:
                outs, _ = self.forward_capped(x, gated)
            finally:
                self.set_capacities(capacities)
        return outs

    def forward_capped(self, x: torch.Tensor, gated: Optional[bool] = None
                       ) -> Tuple[Tuple[torch.Tensor, ...], Optional[torch.Tensor]]:
        """``forward`` without the check of ``set_capacities``: (feature maps, overflow),
        ``overflow`` a 0-dim bool tensor (True: some block's union outgrew its capacity and
        the maps are wrong) or None when no capacity ran. Nothing here waits for the device
        when every gated block has a capacity: capture this one in a CUDA graph."""
        if gated is None:
            gated = self.gated
        for blk in self.gated_blocks:
            blk.gated = gated
            blk.last_overflow = None
        for bn in self._dual_bns:
            bn.use_gated = gated
        outs = super().forward(x)
        flags = [blk.last_overflow for blk in self.gated_blocks if blk.last_overflow is not None]
        return outs, (torch.stack(flags).any() if flags else None)

    def forward_gated(self, x: torch.Tensor
                      ) -> Tuple[Tuple[torch.Tensor, ...], List[torch.Tensor]]:
        """Gated branch: (feature maps, masks), one (N, C_mid) 0./1. mask per block."""
        outs = self.forward(x, gated=True)
        return outs, [blk.last_mask for blk in self.gated_blocks]

    # ---------------------------------------------------------------- FLOPs
    def flops(self, input_shape: Sequence[int], convention: Optional[str] = None) -> GatedFlops:
        """FLOPs accounting of this network on one image of ``input_shape`` (C, H, W), in
        ``convention`` (default: the backbone's ``flops_convention``)."""
        convention = convention or self.flops_convention
        key = (convention, ) + tuple(int(s) for s in input_shape)
        if key not in self._flops_cache:
            self._flops_cache[key] = count_gated_flops(self, key[1:], convention)
        return self._flops_cache[key]


def _conv_out_size(conv: nn.Conv2d, h: int, w: int) -> Tuple[int, int]:
    size = []
    for n, k, s, p, d in zip((h, w), conv.kernel_size, conv.stride, conv.padding,
                             conv.dilation):
        size.append((n + 2 * p - d * (k - 1) - 1) // s + 1)
    return tuple(size)


def _active_bn_state(bn: nn.BatchNorm2d):
    """(running mean, running var, weight, bias, eps) of the BN the active branch uses."""
    src = bn.active if isinstance(bn, DualBatchNorm2d) else bn
    return src.running_mean, src.running_var, src.weight, src.bias, src.eps
