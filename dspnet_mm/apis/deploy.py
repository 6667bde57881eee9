"""Choosing the network for a device (``tools/pick.py``).

checkpoint (+ eval JSON) -> candidates exported in memory -> timed on the device -> Pareto
front -> the chosen one written by the slim writer (:mod:`dspnet_mm.apis.slim`) + its
downstream config (:mod:`dspnet_mm.apis.transfer`).

Every candidate is the exact plain network that would ship (slimmed in memory, eval mode, no
grad). They are timed with the protocol of :mod:`dspnet_mm.apis.benchmark`: warm-up, then
interleaved rounds (every candidate once per round, in the same order), so drifts of a noisy
machine hit every candidate alike. ``torch.utils.benchmark.Timer`` times one callable at a
time, which is why the interleaved loop is ours.
"""
import copy
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from dspnet_mm.models.backbones.gated_resnet import GatedResNet
from dspnet_mm.models.backbones.slimmable_resnet import SlimmableResNet
from dspnet_mm.models.backbones.plain_resnet import plain_complexity
from dspnet_mm.models.slimmable.subnet import SubnetSpec
from dspnet_mm.models.utils.flops import complexity
from .backbone import load_backbone
from .benchmark import interleaved, machine, resolve_device
from .checkpoint import CheckpointError
from .cli import UsageError
from .report import markdown_table, write_json, write_text
from .slim import export_branch, slim_supernet

RUNTIMES = ('torch', 'onnxruntime')
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
MIN_ROUNDS = 5  # --max-seconds never cuts the measured window below this many rounds
NOT_DEPLOYABLE = ('tools/pick.py chooses among the desired networks of a DSPNet checkpoint '
                  'or the dense and gated branches of a dynamic-gating checkpoint')


@dataclass
class Candidate:
    """One network that could ship.

    Attributes:
        name: the DN name, ``dense`` / ``gated`` (gating branches) or ``w0.625`` (grid).
        kind: ``'dn'``, ``'grid'``, ``'dense'`` or ``'gated'``.
        net: the plain network, in eval mode, on CPU in fp32.
        spec: its widths and depths (None for the gated branch).
        write: ``write(out, extra_meta, force)`` writes it with the slim writer.
        arch: its ResNet family (FLOPs at other input sizes), None for the gated branch.
        needs_images: its cost depends on its input (the gated branch): timed on real images.
    """
    name: str
    kind: str
    net: nn.Module
    spec: Optional[dict]
    write: Callable[[str, dict, bool], dict]
    arch: Optional[dict] = None
    needs_images: bool = False


@dataclass
class PickSettings:
    """How candidates are timed and chosen (``tools/pick.py`` flags of the same names)."""
    device: str = 'cpu'
    batch_size: int = 1
    input_size: Optional[Tuple[int, int]] = None  # (H, W); None: the config's test images
    dtype: str = 'fp32'
    threads: Optional[int] = None
    runtime: str = 'torch'
    warmup: int = 3
    repeats: int = 20
    max_seconds: Optional[float] = 60.
    budget_ms: Optional[float] = None
    budget_flops: Optional[float] = None
    grid: Sequence[float] = ()
    metric: str = 'linear_top1'

    def validate(self) -> torch.device:
        """Check every value; returns the device (a bad one fails here, with the fix)."""
        for name in ('batch_size', 'repeats', 'threads'):
            value = getattr(self, name)
            if value is None and name == 'threads':
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"--{name.replace('_', '-')} {value!r} must be an integer "
                                 '>= 1')
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise UsageError(f'--warmup {self.warmup!r} must be an integer >= 0')
        for name in ('budget_ms', 'budget_flops', 'max_seconds'):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UsageError(f"--{name.replace('_', '-')} {value!r} must be > 0")
        if self.budget_ms is not None and self.budget_flops is not None:
            raise UsageError('give one budget: --budget-ms or --budget-flops, not both')
        if self.input_size is not None and (len(self.input_size) != 2 or
                                            min(self.input_size) < 1):
            raise UsageError(f'--input-size {self.input_size!r} must be H or H,W pixels >= 1')
        if self.dtype not in DTYPES:
            raise UsageError(f"--dtype {self.dtype!r} must be one of {', '.join(DTYPES)}")
        if self.runtime not in RUNTIMES:
            raise UsageError(f"--runtime {self.runtime!r} must be one of {', '.join(RUNTIMES)}")
        for w in self.grid:
            if not 0 < w <= 1:
                raise UsageError(f'--grid width {w!r} is outside (0, 1]')
        device = resolve_device(self.device)
        if self.runtime == 'onnxruntime':
            from .onnx import providers
            if self.dtype != 'fp32':
                raise UsageError(f'--runtime onnxruntime times the fp32 ONNX file; --dtype '
                                 f'{self.dtype} is for --runtime torch')
            providers(device)  # refuses a device onnxruntime cannot run here
        return device


def parse_input_size(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """``'224'`` -> (224, 224), ``'256,192'`` -> (256, 192)."""
    if text is None:
        return None
    try:
        sizes = [int(v) for v in text.split(',')]
    except ValueError:
        sizes = []
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise UsageError(f'--input-size {text!r} must be H or H,W in pixels (>= 1), '
                         'e.g. 224 or 256,192')
    return (sizes[0], sizes[-1])


def parse_grid(text: Optional[str]) -> List[float]:
    """``'0.3,0.6'`` -> [0.3, 0.6] (widths for a continuous supernet)."""
    if not text:
        return []
    try:
        return [float(w) for w in text.split(',')]
    except ValueError:
        raise UsageError(f'--grid {text!r} must be comma-separated widths in (0, 1], '
                         'e.g. 0.3,0.6,0.9') from None


_SUFFIX = {'k': 1e3, 'm': 1e6, 'g': 1e9}


def parse_flops(text: Optional[str]) -> Optional[float]:
    """``'300M'`` -> 3e8, ``'1.5e9'`` -> 1.5e9 (multiply-accumulates of one image)."""
    if text is None:
        return None
    t = text.strip()
    scale = _SUFFIX.get(t[-1:].lower(), 1) if t else 1
    try:
        return float(t[:-1] if scale != 1 else t) * scale
    except ValueError:
        raise UsageError(f'--budget-flops {text!r} must be a number of FLOPs, e.g. 300M, '
                         '1.2G or 3e8') from None


def check_out_dir(path: str) -> str:
    """Refuse an output folder that cannot be created or written, without creating it (a
    refused run writes nothing)."""
    p = os.path.abspath(path)
    if os.path.exists(p) and not os.path.isdir(p):
        raise UsageError(f'--out-dir {path!r} is a file, not a folder')
    while not os.path.exists(p):
        p = os.path.dirname(p)
    if not os.path.isdir(p) or not os.access(p, os.W_OK):
        raise UsageError(f'--out-dir {path!r} cannot be created: {p!r} is not writable')
    return path


# ------------------------------------------------------------------------------ candidates
def load_candidates(checkpoint: str, config: str, cfg, grid: Sequence[float] = (),
                    input_size: Optional[int] = None,
                    calibration: Optional[Callable[[], object]] = None,
                    notes: Optional[list] = None) -> List[Candidate]:
    """The candidates of a checkpoint: every DN of a DSPNet supernet (and, for a supernet
    pretrained with ``sample_space='continuous'``, the uniform widths of ``grid``, BN
    re-calibrated on ``calibration()``'s batches of training images), or the dense and gated
    branches of a dynamic-gating checkpoint."""
    loaded = load_backbone(checkpoint, config, ('SlimmableResNet', 'GatedResNet'),
                           NOT_DEPLOYABLE)
    net = loaded.net
    if isinstance(net, GatedResNet):
        if grid:
            raise UsageError('--grid is for DSPNet supernets; a gating checkpoint has two '
                             'networks, dense and gated')
        out = []
        for branch in ('dense', 'gated'):
            exported = _plain_bn(net.export(branch)[0])

            def write(out_path, meta, force, branch=branch):
                return export_branch(checkpoint, branch, out_path, config, force, meta)
            out.append(Candidate(
                branch, branch, exported,
                exported.spec.to_dict() if branch == 'dense' else None, write,
                arch=exported.arch if branch == 'dense' else None,
                needs_images=branch == 'gated'))
        return out
    if not isinstance(net, SlimmableResNet):
        raise CheckpointError(f'{checkpoint!r} holds one plain network, not a supernet: it is '
                              'already slim, there is nothing to choose')
    supernet = net
    if not supernet.subnets:
        raise CheckpointError(f'{checkpoint!r} defines no desired networks')
    out = []
    for name in supernet.subnets:

        def write(out_path, meta, force, name=name):
            return slim_supernet(supernet, name, checkpoint, out_path, force, input_size, meta)
        out.append(Candidate(name, 'dn', _plain_bn(supernet.export(name)),
                             supernet.subnets[name].to_dict(), write, arch=supernet.arch))
    if grid:
        out += grid_candidates(supernet, cfg, grid, checkpoint, input_size, calibration,
                               notes if notes is not None else [])
    return out


def grid_candidates(supernet: SlimmableResNet, cfg, grid: Sequence[float], checkpoint: str,
                    input_size, calibration, notes: list) -> List[Candidate]:
    model = cfg.get('model', {})
    space = model.get('sample_space', 'dn')
    if space != 'continuous':
        raise UsageError(f"--grid needs a supernet pretrained with sample_space='continuous'; "
                         f"this config's model.sample_space is {space!r}: only its DNs were "
                         'trained, use them (drop --grid)')
    min_width = model.get('min_width', 0.25)
    for w in grid:
        if w < min_width:
            raise UsageError(f'--grid width {w:g} is below the narrowest width the supernet '
                             f'trained (model.min_width {min_width:g})')
    batches = calibration()
    out = []
    named = {s: n for n, s in supernet.subnets.items()}
    for w in grid:
        spec = SubnetSpec.create(dict(widths=w), supernet.max_depths)
        if spec in named:
            notes.append(f'--grid {w:g} is DN {named[spec]!r}: timed once, as the DN')
            continue
        calibrated = copy.deepcopy(supernet)
        from dspnet_mm.models.slimmable.bn_calibration import recalibrate_bn
        recalibrate_bn(calibrated, spec, batches, num_batches=len(batches))

        def write(out_path, meta, force, sup=calibrated, spec=spec, w=w):
            return slim_supernet(sup, spec.to_dict(), checkpoint, out_path, force, input_size,
                                 dict(meta, name=f'w{w:g}', bn='re-calibrated'))
        out.append(Candidate(f'w{w:g}', 'grid', _plain_bn(calibrated.export(spec)),
                             spec.to_dict(), write,
                             arch=supernet.arch))
    return out


def _plain_bn(net: nn.Module) -> nn.Module:
    """SyncBN needs a process group to train, not to run: one device runs plain BN."""
    from mmengine.model import revert_sync_batchnorm
    return revert_sync_batchnorm(net).eval()


def candidate_cost(c: Candidate, x: torch.Tensor) -> Dict[str, float]:
    """FLOPs (multiply-accumulates per image, mmengine's counter) and params of a candidate on
    the images ``x`` (N, C, H, W): for the gated branch the mean over the images."""
    if c.kind == 'gated':
        with torch.no_grad():
            _, masks = c.net.forward_gated(x)
        flops = c.net.flops(tuple(x.shape[1:])).per_image(masks).mean().item()
        return dict(flops=flops, params=sum(p.numel() for n, p in c.net.named_parameters()))
    if c.arch is not None and x.shape[-1] == x.shape[-2]:  # counted once per shape (cached)
        return plain_complexity(c.arch, SubnetSpec(*_spec_lists(c.spec)), x.shape[-1])
    return complexity(c.net, tuple(x.shape[1:]))


# ------------------------------------------------------------------------------ timing
def time_interleaved(fns: Mapping[str, Callable], repeats: int, warmup: int,
                     device: Optional[torch.device] = None, max_seconds: Optional[float] = None,
                     progress: Optional[Callable[[], None]] = None) -> Dict[str, List[float]]:
    """Seconds of each callable in every measured round (``benchmark.interleaved``: each
    round runs every callable once, in order). ``warmup`` rounds run first and are dropped;
    rounds stop after ``repeats``, or once ``max_seconds`` of measuring have passed and at
    least :data:`MIN_ROUNDS` are recorded."""
    fns = dict(fns)
    interleaved(fns, repeats=0, warmup=warmup, device=device)
    times = {k: [] for k in fns}
    start = time.perf_counter()
    for r in range(repeats):
        for k, samples in interleaved(fns, repeats=1, warmup=0, device=device).items():
            times[k] += samples
        if progress is not None:
            progress()
        if (max_seconds is not None and r + 1 >= MIN_ROUNDS
                and time.perf_counter() - start > max_seconds):
            break
    return times


def latency_stats(samples: Sequence[float], batch_size: int) -> dict:
    """Median and p90 milliseconds per batch and images per second, from recorded samples
    (seconds)."""
    s = sorted(samples)
    median = statistics.median(s)
    p90 = statistics.quantiles(s, n=10, method='inclusive')[-1] if len(s) > 1 else s[0]
    return dict(median_ms=round(1000 * median, 4), p90_ms=round(1000 * p90, 4),
                images_per_s=round(batch_size / median, 2),
                samples_ms=[round(1000 * t, 4) for t in samples])


class Runner:
    """The callables that run each candidate once on the device, in the runtime and dtype
    asked for (torch: the module cast to the dtype under ``inference_mode``; onnxruntime: an
    ONNX file exported with a dynamic batch, checked against PyTorch first)."""

    def __init__(self, settings: PickSettings, device: torch.device, onnx_dir: str):
        self.s, self.device, self.onnx_dir = settings, device, onnx_dir
        self.onnx_diffs: Dict[str, float] = {}
        self.onnx_files: Dict[str, str] = {}

    def __call__(self, c: Candidate, x: torch.Tensor) -> Callable[[], object]:
        if self.s.runtime == 'onnxruntime':
            from . import onnx as ox
            path = os.path.join(self.onnx_dir, f'{c.name}.onnx')
            ox.export_onnx(c.net, x, path)
            session = ox.session(path, self.s.threads, self.device)
            self.onnx_diffs[c.name] = ox.check_against_torch(c.net, session, x, c.name)
            self.onnx_files[c.name] = path
            feed = {ox.INPUT: x.numpy()}
            return lambda: session.run(None, feed)
        dtype = DTYPES[self.s.dtype]
        net = copy.deepcopy(c.net).to(self.device, dtype).eval()
        xin = x.to(self.device, dtype)

        def run():
            with torch.inference_mode():
                return net(xin)
        return run


# ------------------------------------------------------------------------------ the choice
def pareto_front(rows: Sequence[Mapping], quality: str) -> List[str]:
    """Names of the rows no other row dominates: none both faster (lower ``median_ms``) and at
    least as good in ``quality``, nor as fast and better. Rows without a latency or a
    quality are not on it."""
    ok = [r for r in rows if r.get('median_ms') is not None and r.get(quality) is not None]

    def dominates(s, r):
        return (s['median_ms'] <= r['median_ms'] and s[quality] >= r[quality]
                and (s['median_ms'] < r['median_ms'] or s[quality] > r[quality]))
    return [r['name'] for r in ok if not any(dominates(s, r) for s in ok if s is not r)]


def choose(rows: Sequence[Mapping], budget_ms: Optional[float] = None,
           budget_flops: Optional[float] = None, quality: str = 'flops',
           where: str = '') -> dict:
    """The best row within the budget: the highest ``quality`` (the accuracy; ``'flops'``
    when no accuracy is given), ties broken by the lower latency, then by name order.

    Raises ``UsageError`` naming the fastest (or smallest) candidate when nothing fits."""
    timed = [r for r in rows if r.get('median_ms') is not None]
    if budget_ms is not None:
        fits = [r for r in timed if r['median_ms'] <= budget_ms]
        if not fits:
            fastest = min(timed, key=lambda r: r['median_ms'])
            raise UsageError(
                f"--budget-ms {budget_ms:g} is below every candidate: the fastest, "
                f"{fastest['name']!r}, takes {fastest['median_ms']:.3f} ms per batch{where}; "
                'raise the budget or time a smaller batch')
    else:
        fits = [r for r in timed if r['flops'] <= budget_flops]
        if not fits:
            smallest = min(timed, key=lambda r: r['flops'])
            raise UsageError(
                f"--budget-flops {budget_flops:.4g} is below every candidate: the smallest, "
                f"{smallest['name']!r}, has {smallest['flops']:.4g} FLOPs per image; raise "
                'the budget')
    scored = [r for r in fits if r.get(quality) is not None]
    if not scored:
        raise UsageError(f"no candidate within the budget has an accuracy in the --accuracy "
                         f"file (within it: {', '.join(r['name'] for r in fits)})")
    order = {r['name']: i for i, r in enumerate(rows)}
    return dict(max(scored, key=lambda r: (r[quality], -r['median_ms'], -order[r['name']])))


# ------------------------------------------------------------------------------ accuracy
def read_accuracy(path: str, metric: str, candidates: Sequence[Candidate],
                  checkpoint: str) -> Tuple[Dict[str, float], Optional[float]]:
    """``{candidate name: metric}`` and the raw-pixel floor's value from a ``results.json``
    of ``tools/eval_subnets.py``. A file from another checkpoint (a network the checkpoint
    does not have, another spec, other FLOPs) is refused."""
    try:
        with open(path) as f:
            rows = json.load(f)
    except json.JSONDecodeError as e:
        raise UsageError(f'--accuracy {path!r} is not JSON ({e.msg}, line {e.lineno})') \
            from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and 'name' in r
                                             for r in rows):
        raise UsageError(f'--accuracy {path!r} is not a results.json of tools/eval_subnets.py '
                         '(a list of rows with a name)')
    columns = sorted({k for r in rows for k, v in r.items() if k not in ('flops', 'params')
                      and isinstance(v, (int, float)) and not isinstance(v, bool)})
    if metric not in columns:
        raise UsageError(f"--metric {metric!r} is not a column of {path}; its columns: "
                         f"{', '.join(columns)}")
    by_name = {c.name: c for c in candidates}
    accuracy, floor = {}, None
    for r in rows:
        if r.get('method') == 'floor':
            floor = r.get(metric)
            continue
        if r.get('method') == 'one-by-one':  # a baseline pretrained alone: not a candidate
            continue
        name, c = r['name'], by_name.get(r['name'])
        another = f'--accuracy {path!r} is from another checkpoint than {checkpoint!r}'
        if c is None:
            raise UsageError(f"{another}: it has a network {name!r}; the checkpoint's are "
                             f"{', '.join(by_name)}")
        if r.get('spec') and c.spec and _spec_lists(r['spec']) != _spec_lists(c.spec):
            raise UsageError(f"{another}: {name!r} is {r['spec']} there, {c.spec} here")
        if r.get('flops') is not None and c.arch is not None:
            shape = r.get('input_shape')
            size = shape[-1] if isinstance(shape, list) and shape else None
            expected = plain_complexity(c.arch, SubnetSpec(*_spec_lists(c.spec)), size)
            if int(r['flops']) != expected['flops']:
                at = f'{size} px' if size else 'the default size'
                raise UsageError(f"{another}: {name!r} has {r['flops'] / 1e6:.3f} MFLOPs there "
                                 f"and {expected['flops'] / 1e6:.3f} here (at {at})")
        if r.get(metric) is not None:
            accuracy[name] = float(r[metric])
    if not accuracy:
        raise UsageError(f'--accuracy {path!r} has no {metric!r} for any candidate '
                         f"({', '.join(by_name)})")
    return accuracy, floor


def _spec_lists(spec: Mapping) -> tuple:
    return (tuple(float(w) for w in spec['widths']), tuple(int(d) for d in spec['depths']))


# ------------------------------------------------------------------------------ output
COLUMNS = ('DN', 'kind', 'widths', 'depths', 'MFLOPs', 'Mparams', 'median ms', 'p90 ms',
           'img/s', 'speed-up', 'FLOPs ratio')


def results_table(rows: Sequence[Mapping], metric: Optional[str] = None,
                  chosen: Optional[str] = None) -> str:
    head = list(COLUMNS) + ([metric] if metric else []) + ['front']
    cells = []
    for r in rows:
        spec = r.get('spec')
        timed = r.get('median_ms') is not None
        cell = [r['name'] + (' (chosen)' if r['name'] == chosen else ''), r['kind'],
                str(spec['widths']) if spec else '-', str(spec['depths']) if spec else '-',
                f"{r['flops'] / 1e6:.2f}", f"{r['params'] / 1e6:.3f}",
                f"{r['median_ms']:.3f}" if timed else 'skipped',
                f"{r['p90_ms']:.3f}" if timed else '-',
                f"{r['images_per_s']:.1f}" if timed else '-',
                f"{r['speedup']:.2f}x" if r.get('speedup') else '-',
                f"{r['flops_ratio']:.2f}x" if r.get('flops_ratio') else '-']
        if metric:
            cell.append(f"{r['accuracy']:.2f}" if r.get('accuracy') is not None else '-')
        cell.append('yes' if r.get('on_front') else '')
        cells.append(cell)
    return markdown_table(head, cells)


def plot_latency(report: Mapping, path: str):
    """Accuracy (FLOPs when no accuracy is given) against measured latency: every candidate,
    the Pareto front, the budget line, the raw-pixel floor, the chosen network."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = [r for r in report['candidates'] if r.get('median_ms') is not None]
    metric = report['settings'].get('metric') if report.get('accuracy_file') else None
    key = 'accuracy' if metric else 'flops'
    value = (lambda r: r[key]) if metric else (lambda r: r['flops'] / 1e6)
    s = report['settings']
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    pts = [r for r in rows if r.get(key) is not None]
    ax.scatter([r['median_ms'] for r in pts], [value(r) for r in pts], color='tab:blue',
               zorder=3, label='candidates')
    for r in pts:
        ax.annotate(r['name'], (r['median_ms'], value(r)), fontsize=7,
                    textcoords='offset points', xytext=(3, 3))
    front = sorted((r for r in pts if r.get('on_front')), key=lambda r: r['median_ms'])
    if front:
        ax.plot([r['median_ms'] for r in front], [value(r) for r in front], '-',
                color='tab:orange', label='Pareto front')
    chosen = [r for r in pts if r['name'] == report.get('chosen')]
    if chosen:
        ax.scatter([chosen[0]['median_ms']], [value(chosen[0])], marker='*', s=200,
                   color='tab:red', zorder=4, label=f"chosen: {chosen[0]['name']}")
    if s.get('budget_ms'):
        ax.axvline(s['budget_ms'], color='tab:red', ls=':', label=f"budget {s['budget_ms']:g} ms")
    if s.get('budget_flops') and not metric:
        ax.axhline(s['budget_flops'] / 1e6, color='tab:red', ls=':',
                   label=f"budget {s['budget_flops'] / 1e6:g} MFLOPs")
    if metric and report.get('floor') is not None:
        ax.axhline(report['floor'], color='grey', ls='--', label='raw pixels (floor)')
    ax.set_xlabel(f"median latency (ms per batch of {s['batch_size']}, {report['device']}, "
                  f"{s['runtime']}, {s['dtype']})", fontsize=8)
    ax.set_ylabel(metric if metric else 'MFLOPs (one image)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------ the tool
@dataclass
class PickResult:
    report: dict
    table: str
    written: List[str] = field(default_factory=list)


def pick(checkpoint: str, config: str, settings: PickSettings, out_dir: str,
         accuracy_file: Optional[str] = None, print_config: Sequence[str] = (),
         export_onnx: bool = False, force: bool = False, cfg_options: Optional[dict] = None,
         say: Callable[[str], None] = print,
         progress_bar: Optional[Callable[[int], object]] = None) -> PickResult:
    """Everything ``tools/pick.py`` does: check every input, export and time the candidates,
    mark the front, choose within the budget, write the table (JSON, Markdown, PNG), the
    chosen network, its downstream configs and (``export_onnx``) its ONNX file.

    A refused input or a budget nothing fits raises ``UsageError`` before anything is
    written."""
    from mmengine.config import Config
    from .transfer import DOWNSTREAM_TARGETS, downstream_config
    t0 = time.perf_counter()
    device = settings.validate()
    budget = settings.budget_ms is not None or settings.budget_flops is not None
    if (print_config or export_onnx) and not budget:
        raise UsageError('--print-config and --export-onnx write the chosen network: give a '
                         'budget, --budget-ms or --budget-flops')
    for target in print_config:
        if target not in DOWNSTREAM_TARGETS:
            raise UsageError(f"--print-config {target!r} must be one of "
                             f"{', '.join(DOWNSTREAM_TARGETS)}")
    if export_onnx:
        from .onnx import require
        require()
    if not os.path.isfile(config):
        raise UsageError(f'--config {config!r} does not exist')
    check_out_dir(out_dir)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    notes: List[str] = []
    images = _ImageSource(cfg)
    backbone = cfg.get('model', {}).get('backbone', {})
    in_channels = backbone.get('in_channels', 3)
    size = settings.input_size or images.size() or ((32, 32) if backbone.get('small_input')
                                                   else (224, 224))
    square = size[0] if size[0] == size[1] else None
    candidates = load_candidates(checkpoint, config, cfg, settings.grid, square,
                                 images.calibration, notes)
    accuracy, floor = ({}, None)
    if accuracy_file is not None:
        accuracy, floor = read_accuracy(accuracy_file, settings.metric, candidates, checkpoint)
        missing = [c.name for c in candidates if c.name not in accuracy]
        if missing:
            notes.append(f"no {settings.metric} in {accuracy_file} for {', '.join(missing)}: "
                         'timed, not chosen')
    x = torch.randn(settings.batch_size, in_channels, *size,
                    generator=torch.Generator().manual_seed(0))
    real = None
    if any(c.needs_images for c in candidates):
        real = images.test_batch(settings.batch_size, size)
        for c in [c for c in candidates if c.needs_images]:
            if real is None:
                notes.append(f'{c.name}: skipped: its cost depends on its input and the '
                             f"config's test images are missing ({images.error})")
            elif settings.runtime == 'onnxruntime':
                notes.append(f'{c.name}: skipped: its data-dependent sparse path has no ONNX '
                             'export; time it with --runtime torch')
    rows = []
    for c in candidates:
        inp = real if c.needs_images else x
        cost = candidate_cost(c, inp if inp is not None else x)
        rows.append(dict(name=c.name, kind=c.kind, spec=c.spec, flops=cost['flops'],
                         params=cost['params']))
    runnable = [c for c in candidates
                if not c.needs_images or (real is not None and settings.runtime == 'torch')]
    if not runnable:
        raise UsageError('no candidate can be timed here (see the notes above)')
    t_load = time.perf_counter() - t0

    previous_threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    import tempfile
    tmp = tempfile.TemporaryDirectory(prefix='dspnet_pick_')
    try:
        where = (f' of {settings.batch_size} at {size[0]}x{size[1]} on {device} '
                 f'({settings.runtime}, {settings.dtype}, {torch.get_num_threads()} threads)')
        say(f'timing {len(runnable)} candidates ({", ".join(c.name for c in runnable)}), '
            f'batch{where}: ' + ('each exported to ONNX and checked against PyTorch, then '
                                 if settings.runtime == 'onnxruntime' else '')
            + f'{settings.warmup} warm-up rounds, then up to {settings.repeats} interleaved '
            'rounds' + (f' or {settings.max_seconds:g} s' if settings.max_seconds else ''))
        for n in notes:
            say(f'note: {n}')
        run = Runner(settings, device, tmp.name)
        t_prepare = time.perf_counter()
        fns = {}
        for c in runnable:
            fns[c.name] = run(c, real if c.needs_images else x)
            if c.name in run.onnx_diffs:
                say(f'  {c.name}: ONNX file checked, max abs diff to PyTorch '
                    f'{run.onnx_diffs[c.name]:.2g}')
        t_prepare = time.perf_counter() - t_prepare
        bar = progress_bar(settings.repeats) if progress_bar else None
        t1 = time.perf_counter()
        times = time_interleaved(fns, settings.repeats, settings.warmup, device,
                                 settings.max_seconds, bar.update if bar else None)
        t_time = time.perf_counter() - t1
        threads = torch.get_num_threads()
        onnx_files = dict(run.onnx_files)
        onnx_diffs = dict(run.onnx_diffs)
        chosen_onnx = None
        for r in rows:
            if r['name'] in times:
                r.update(latency_stats(times[r['name']], settings.batch_size))
                if r['name'] in onnx_diffs:
                    r['onnx_max_abs_diff'] = onnx_diffs[r['name']]
            r['accuracy'] = accuracy.get(r['name'])
        full = max((r for r in rows if r.get('median_ms') is not None and r['kind'] != 'gated'),
                   key=lambda r: r['flops'])
        for r in rows:
            if r.get('median_ms') is not None:
                r['speedup'] = round(full['median_ms'] / r['median_ms'], 3)
            r['flops_ratio'] = round(full['flops'] / r['flops'], 3)
        quality = 'accuracy' if accuracy_file else 'flops'
        front = set(pareto_front(rows, quality))
        for r in rows:
            r['on_front'] = r['name'] in front
        say(results_table(rows, settings.metric if accuracy_file else None))
        chosen = None
        if budget:
            chosen = choose(rows, settings.budget_ms, settings.budget_flops, quality, where)
        report = dict(
            checkpoint=os.path.abspath(checkpoint), config=os.path.abspath(config),
            device=str(device), machine=dict(machine(device), threads=threads,
                                             runtime=_runtime_version(settings.runtime),
                                             load_average=[round(v, 2)
                                                           for v in os.getloadavg()]),
            settings=dict(settings.__dict__, input_size=list(size), grid=list(settings.grid),
                          threads=threads),
            accuracy_file=os.path.abspath(accuracy_file) if accuracy_file else None,
            floor=floor, reference=full['name'], rounds=min(len(v) for v in times.values()),
            candidates=rows, front=[r['name'] for r in rows if r['on_front']],
            chosen=chosen['name'] if chosen else None, notes=notes,
            tool_seconds=dict(load_and_export=round(t_load, 2),
                              runtime_setup=round(t_prepare, 2), timing=round(t_time, 2)))
        table = results_table(rows, settings.metric if accuracy_file else None,
                              report['chosen'])
        written = []
        if chosen is not None:
            c = next(c for c in candidates if c.name == chosen['name'])
            ckpt_path = os.path.join(out_dir, f'{c.name}.pth')
            if os.path.exists(ckpt_path) and not force:
                raise UsageError(f'output {ckpt_path!r} exists; pass --force to overwrite it')
            if export_onnx and c.needs_images:
                raise UsageError(f'--export-onnx: the chosen {c.name!r} (gated branch) has no '
                                 'ONNX export; choose with --runtime torch and ship it in '
                                 'PyTorch, or lower the budget')
            os.makedirs(out_dir, exist_ok=True)
            latency = dict(median_ms=chosen['median_ms'], p90_ms=chosen['p90_ms'],
                           images_per_s=chosen['images_per_s'], device=str(device),
                           device_name=report['machine'].get('device_name',
                                                             report['machine']['processor']),
                           runtime=settings.runtime, dtype=settings.dtype,
                           batch_size=settings.batch_size, input_size=list(size),
                           threads=threads, measured_by='tools/pick.py')
            extra = dict(latency=latency)
            if chosen.get('accuracy') is not None:
                extra['accuracy'] = {settings.metric: chosen['accuracy'],
                                     'source': os.path.abspath(accuracy_file)}
            result = c.write(ckpt_path, extra, force)
            written.append(ckpt_path)
            for target in print_config:
                cfg_path = os.path.join(out_dir, f'{c.name}_{target}.py')
                write_text(cfg_path, downstream_config(result['meta'], target, ckpt_path))
                written.append(cfg_path)
            if export_onnx:
                from . import onnx as ox
                chosen_onnx = os.path.join(out_dir, f'{c.name}.onnx')
                if c.name in onnx_files:
                    import shutil
                    shutil.copyfile(onnx_files[c.name], chosen_onnx)
                else:
                    ox.export_onnx(c.net, x, chosen_onnx)
                    diff = ox.check_against_torch(c.net, ox.session(chosen_onnx, None),
                                                  x, c.name)
                    chosen['onnx_max_abs_diff'] = diff
                written.append(chosen_onnx)
        os.makedirs(out_dir, exist_ok=True)
        report['written'] = [os.path.abspath(p) for p in written]
        report['tool_seconds']['total'] = round(time.perf_counter() - t0, 2)
        write_json(os.path.join(out_dir, 'pick.json'), report)
        write_text(os.path.join(out_dir, 'pick.md'), table + '\n')
        plot_latency(report, os.path.join(out_dir, 'latency.png'))
        written += [os.path.join(out_dir, n) for n in ('pick.json', 'pick.md', 'latency.png')]
        return PickResult(report, table, written)
    finally:
        tmp.cleanup()
        torch.set_num_threads(previous_threads)


def _runtime_version(runtime: str) -> str:
    if runtime == 'onnxruntime':
        import onnxruntime
        return f'onnxruntime {onnxruntime.__version__}'
    return f'torch {torch.__version__}'


class _ImageSource:
    """The config's own images, read only when asked for: the test images (timing the gated
    branch, the default input size) and training batches (BN re-calibration of a grid)."""

    def __init__(self, cfg):
        self.cfg, self.error, self._test = cfg, None, None

    def _test_set(self):
        if self._test is None and self.error is None:
            from .evaluation import ImageSet
            try:
                self._test = ImageSet(self.cfg, True, None)
            except (OSError, ValueError, KeyError, AttributeError) as e:
                from .cli import describe
                self.error = describe(e)
        return self._test

    def size(self) -> Optional[Tuple[int, int]]:
        images = self._test_set()
        if images is None:
            return None
        x, _ = next(images.batches(1))
        return tuple(x.shape[-2:])

    def test_batch(self, batch_size: int, size: Tuple[int, int]) -> Optional[torch.Tensor]:
        images = self._test_set()
        if images is None:
            return None
        x, _ = next(images.batches(min(batch_size, len(images))))
        while len(x) < batch_size:  # a batch larger than the test set: repeat it
            x = torch.cat([x, x])[:batch_size]
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        return x

    def calibration(self, batch_size: int = 256, num_batches: int = 20) -> list:
        from .evaluation import ImageSet
        try:
            train = ImageSet(self.cfg, False, None)
        except (OSError, ValueError, KeyError, AttributeError) as e:
            from .cli import describe
            raise UsageError(f"--grid re-calibrates BN on the config's training images, "
                             f'which cannot be read: {describe(e)}') from None
        out = []
        for x, _ in train.batches(batch_size):
            out.append(x)
            if len(out) == num_batches:
                break
        return out
