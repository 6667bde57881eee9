"""Timing protocol shared by the scripts in ``tools/benchmarks``: warm-up, then interleaved
repeats (A B A B ...), reporting the median ratio and its spread, with the machine facts."""
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn
from mmengine.logging import MMLogger

# benchmarks print one JSON object: keep mmengine's build-time warnings out of stdout
MMLogger.get_instance('dspnet_mm_benchmark', log_level='ERROR')


# the source checkout (the package is installed in development mode)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train(config: str, work_dir: str, options, device: Optional[torch.device] = None,
          resume: bool = False) -> tuple:
    """Run ``tools/train.py config`` with ``--cfg-options options``; return (wall seconds of
    training in ``work_dir``, path of the final checkpoint). ``device`` cpu hides every GPU
    from the run (on a GPU machine mmengine would take one); ``resume`` continues from the
    last checkpoint in ``work_dir`` if there is one (exactly, see
    ReproducibleIterBasedTrainLoop).

    The seconds count every run of this work dir (see ``train_segments``): a run that was
    killed counts up to its last checkpoint, the iterations after it are counted where they
    run again. Without ``resume`` the work dir starts afresh."""
    last = os.path.join(work_dir, 'last_checkpoint')
    resuming = resume and os.path.isfile(last)
    segments = train_segments(work_dir) if resuming else []
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'train.py'), config,
           '--work-dir', work_dir]
    if resuming:
        cmd.append('--resume')
    cmd += ['--cfg-options', *options]
    env = dict(os.environ)
    if device is not None and device.type == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    segment = dict(start=time.time(), seconds=None)
    _write_segments(work_dir, segments + [segment])
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    segment['seconds'] = round(time.perf_counter() - start, 1)
    if out.returncode != 0:
        segment.update(seconds=None, failed=True)  # counted up to its last checkpoint
        _write_segments(work_dir, segments + [segment])
        raise RuntimeError(f'training failed: {" ".join(cmd)}\n{out.stderr[-3000:]}')
    _write_segments(work_dir, segments + [segment])
    with open(last) as f:
        return sum(s['seconds'] for s in segments) + segment['seconds'], f.read().strip()


SEGMENTS_FILE = 'train_segments.json'


def train_segments(work_dir: str) -> list:
    """The runs of ``train`` in ``work_dir`` so far: ``start`` (unix time) and ``seconds``.
    A run that did not finish (killed, or failed) is counted from its start to the time of
    the last checkpoint it wrote (0 if it wrote none) and marked ``interrupted``."""
    path = os.path.join(work_dir, SEGMENTS_FILE)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        segments = json.load(f)
    saved = None
    if os.path.isfile(os.path.join(work_dir, 'last_checkpoint')):
        with open(os.path.join(work_dir, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        saved = os.path.getmtime(ckpt) if os.path.isfile(ckpt) else None
    for seg in segments:
        if seg['seconds'] is None:
            seg.update(seconds=round(max(0., (saved or 0.) - seg['start']), 1),
                       interrupted=True)
    return segments


def _write_segments(work_dir: str, segments: list):
    os.makedirs(work_dir, exist_ok=True)
    tmp = os.path.join(work_dir, SEGMENTS_FILE + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(segments, f, indent=1)
    os.replace(tmp, os.path.join(work_dir, SEGMENTS_FILE))


def fake_views(batch: int, shape=(1, 28, 28), device='cpu') -> Dict:
    """A data batch as mmselfsup's data loader gives it: two views of ``batch`` images."""
    from mmselfsup.structures import SelfSupDataSample
    return dict(inputs=[torch.randn(batch, *shape, device=device) * 50 + 70 for _ in range(2)],
                data_samples=[SelfSupDataSample() for _ in range(batch)])


# the training precisions the step benchmarks compare: fp32, bf16 autocast, and bf16 with the
# model in channels-last memory format (CPU: ``CPUAmpOptimWrapper``; CUDA: autocast around
# the step, as ``AmpOptimWrapper`` does)
PRECISIONS = ('fp32', 'bf16', 'bf16_cl')


def precision_optim_wrapper(optim_wrapper: dict, precision: str) -> dict:
    """A config's ``optim_wrapper`` set to train in ``precision`` on a CPU."""
    cfg = {k: v for k, v in optim_wrapper.items()
           if k not in ('dtype', 'channels_last', 'on_unsupported')}
    if precision == 'fp32':
        if cfg.get('type') == 'CPUAmpOptimWrapper':
            cfg['type'] = 'OptimWrapper'
        return cfg
    return dict(cfg, type='CPUAmpOptimWrapper', dtype='bfloat16', on_unsupported='error',
                channels_last=precision == 'bf16_cl')


def build_model(cfg_path: str, device='cpu', precision: str = 'fp32', **model_overrides):
    """(model in train mode on ``device``, optimizer wrapper) of a pretraining config; dict
    overrides are merged into ``model.<key>``. On a CPU the wrapper trains in ``precision``
    (one of ``PRECISIONS``); elsewhere it is the config's, without autocast."""
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmselfsup.registry import MODELS
    MessageHub.get_instance('dspnet_mm_benchmark').update_info('max_iters', 10_000)
    cfg = Config.fromfile(cfg_path)
    for k, v in model_overrides.items():
        cfg.model[k] = v if not isinstance(v, dict) else {**cfg.model.get(k, {}), **v}
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        model = MODELS.build(cfg.model).to(device)
        optim = build_optim_wrapper(model, precision_optim_wrapper(
            cfg.optim_wrapper, precision if torch.device(device).type == 'cpu' else 'fp32'))
    model.train()
    return model, optim


def add_device_arguments(parser, amp: bool = True):
    """``--device`` (and ``--amp``) of every timing benchmark."""
    parser.add_argument('--device', default='cpu',
                        help="where to time: 'cpu' (default), 'cuda' or 'cuda:N'")
    if amp:
        parser.add_argument('--amp', action='store_true',
                            help='bf16 autocast (the mixed precision of tools/train.py --amp)')


def parse_step_arguments(parser, argv, batch: int, repeats: int = 5):
    """``--quick``, ``--batch``, ``--repeats``, ``--device`` and ``--amp`` of the training-step
    benchmarks, added to ``parser``, parsed and checked; ``--quick`` means batch 8, 2 repeats.
    Seeds torch (0). Returns (args, device)."""
    from .cli import positive
    parser.add_argument('--quick', action='store_true', help='batch 8, 2 repeats')
    parser.add_argument('--batch', type=int, default=batch)
    parser.add_argument('--repeats', type=int, default=repeats)
    parser.add_argument('--precisions', default=None,
                        help=f'comma-separated, timed side by side: {", ".join(PRECISIONS)} '
                        '(default fp32; bf16 with --amp)')
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    for name in ('batch', 'repeats'):
        positive(f'--{name}', getattr(args, name), allow_none=False)
    device = resolve_device(args.device)
    args.precisions = parse_precisions(args.precisions, args.amp, device)
    if args.quick:
        args.batch, args.repeats = 8, 2
    torch.manual_seed(0)
    return args, device


def parse_precisions(text: Optional[str], amp: bool, device: torch.device) -> list:
    """``--precisions`` as a list, checked: known names, no repeats, channels-last on the
    CPU only, bf16 only where the CPU has bf16 instructions."""
    from dspnet_mm.engine.optimizers import bf16_unsupported_message

    from .cli import UsageError
    if text is None:
        return ['bf16' if amp else 'fp32']
    names = [t.strip() for t in text.split(',')]
    for name in names:
        if name not in PRECISIONS:
            raise UsageError(f'--precisions: {name!r} is not one of {", ".join(PRECISIONS)}')
    if len(set(names)) != len(names):
        raise UsageError(f'--precisions {text!r} names one precision twice')
    if device.type != 'cpu' and 'bf16_cl' in names:
        raise UsageError('--precisions bf16_cl: channels-last training is a CPU option; on '
                         f'{device.type} use fp32,bf16')
    problem = bf16_unsupported_message('--precisions bf16') if device.type == 'cpu' else None
    if problem and any(n != 'fp32' for n in names):
        raise UsageError(problem)
    return names


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, refused with one clear error when it is not usable here."""
    from .cli import UsageError
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r} is not a device; use 'cpu' or 'cuda[:N]'") \
            from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise UsageError(f'--device {name!r}: this machine has no CUDA GPU; use --device cpu')
    if device.type not in ('cpu', 'cuda'):
        raise UsageError(f"--device {name!r}: only 'cpu' and 'cuda' are supported")
    return device


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on ``device`` (a no-op context when not ``enabled``)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def synchronize(device: Optional[torch.device]):
    """Wait for queued GPU work, so a timer measures it (CUDA runs asynchronously)."""
    if device is not None and device.type == 'cuda':
        torch.cuda.synchronize(device)


def aten_ops(fn: Callable) -> int:
    """ATen operators (no views) one call of ``fn`` dispatches after a warm-up call: the
    kernel launches it costs on a GPU, counted on any machine (see :func:`launches`)."""
    return launches(fn)['ops']


def python_calls(fn: Callable, setup: Optional[Callable] = None) -> int:
    """Python function calls (interpreted and built-in) of one call of ``fn`` on this thread,
    after a warm-up call; ``setup`` runs uncounted before each. A GPU whose kernels are short
    waits for the host between launches, so this is, beside the ATen operators, the other
    CPU-countable part of launch overhead: deterministic, unlike a timing."""
    setup = setup or (lambda: None)
    setup()
    fn()
    setup()
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ('call', 'c_call'):
            count += 1
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    return count


def pass_launches(supernet, plain, x) -> dict:
    """ATen operators of one eval forward and one train forward+backward, supernet (at its
    current DN) and plain network, on ``x`` (fp32; the eval count is the steady state, after
    the supernet has cached its sliced weights), and the Python calls of the same passes
    (``zero_grad`` not counted: it is paid once per step, not per DN)."""
    out = {}
    for mode in ('eval', 'train'):
        counts, calls = {}, {}
        for key, net in (('supernet', supernet), ('plain', plain)):
            net.train(mode == 'train')

            def run():
                if mode == 'eval':
                    with torch.no_grad():
                        net(x)
                else:
                    net.zero_grad(set_to_none=True)
                    net(x)[0].mean().backward()
            counts[key] = aten_ops(run)
            if mode == 'eval':
                calls[key] = python_calls(run)
            else:
                calls[key] = python_calls(lambda: net(x)[0].mean().backward(),
                                          setup=lambda: net.zero_grad(set_to_none=True))
        counts['ratio'] = round(counts['supernet'] / counts['plain'], 3)
        calls['ratio'] = round(calls['supernet'] / calls['plain'], 3)
        out[mode] = dict(counts, python_calls=calls)
    return out


class IdealStep(nn.Module):
    """The sampled DNs as separate plain networks (own projector copy and head) plus one
    shared target forward: what DSPNet's step would cost without any slicing overhead."""

    def __init__(self, dspnet, names):
        super().__init__()
        sup = dspnet.backbone
        # plain networks of the DNs' shapes (their weights do not matter for timing)
        self.nets = nn.ModuleDict({n: sup.export(n, weights=False).train() for n in names})
        self.necks = nn.ModuleDict({n: copy.deepcopy(dspnet.neck) for n in names})
        self.heads = nn.ModuleDict({n: dspnet.head_of(n) for n in names})
        self.target = copy.deepcopy(dspnet.target_net.module)

    def step(self, views, optim):
        with optim.optim_context(self):  # as a model's train_step (autocast on a CPU in bf16)
            with torch.no_grad():
                t1, t2 = self.target(views[0])[0], self.target(views[1])[0]
            loss = 0
            for n, net in self.nets.items():
                head, neck = self.heads[n], self.necks[n]
                p1 = head.predictor(neck(net(views[0])))[0]
                p2 = head.predictor(neck(net(views[1])))[0]
                loss = loss + 2 * (head.loss(p1, t2) + head.loss(p2, t1))
        optim.update_params(loss)


def step_launches(dspnet, d_optim, data, ideal, i_optim, views) -> dict:
    """ATen operators of one DSPNet step and of one ideal step (fp32), and their Python calls
    (``python_calls``: the host work between launches)."""
    dspnet_step, ideal_step = (lambda: dspnet.train_step(data, d_optim),
                               lambda: ideal.step(views, i_optim))
    ops = dict(dspnet=aten_ops(dspnet_step), ideal=aten_ops(ideal_step))
    ops['ratio'] = round(ops['dspnet'] / ops['ideal'], 3)
    calls = dict(dspnet=python_calls(dspnet_step), ideal=python_calls(ideal_step))
    calls['ratio'] = round(calls['dspnet'] / calls['ideal'], 3)
    return dict(ops, python_calls=calls)


def set_gate_density(net, density: float, seed: int = 0):
    """Make every gate keep the same ``density`` of its channels for any image: hidden units
    strictly positive, output weights positive for kept channels and negative otherwise."""
    g = torch.Generator().manual_seed(seed)
    for blk in net.gated_blocks:
        w = blk.gate.expand.weight.data.abs() + 1e-3
        keep = torch.zeros(w.size(0), dtype=torch.bool)
        keep[torch.randperm(w.size(0), generator=g)[:round(density * w.size(0))]] = True
        w[~keep] *= -1
        blk.gate.expand.weight.data = w
        blk.gate.bn.bias.data.fill_(5.)


HOST_SYNCS = ('nonzero', 'unique_dim', '_unique2', 'unique_consecutive', '_local_scalar_dense')


def launches(fn: Callable) -> dict:
    """ATen operators (no views) of one call of ``fn`` after a warm-up call
    (``compat.count_dispatched_ops``), and how many of them wait for the device (their output
    size or value is read on the host)."""
    from dspnet_mm import compat
    fn()
    total, names = compat.count_dispatched_ops(fn, names=True)
    return dict(ops=total, host_syncs=sum(names.get(n, 0) for n in HOST_SYNCS))


def machine(device: Optional[torch.device] = None) -> Dict:
    device = device or torch.device('cpu')
    info = dict(torch=torch.__version__, threads=torch.get_num_threads(),
                cpus=os.cpu_count(), processor=platform.processor() or platform.machine(),
                python=platform.python_version(), device=str(device))
    if device.type == 'cuda':
        info['device_name'] = torch.cuda.get_device_name(device)
    return info


def timed(fn: Callable, device: Optional[torch.device] = None) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(fns: Dict[str, Callable], repeats: int, warmup: int = 2,
                device: Optional[torch.device] = None,
                setup: Optional[Dict[str, Callable]] = None) -> Dict[str, list]:
    """Seconds of each callable over ``repeats`` rounds; in every round each callable runs
    once, in the given order, so drifts of a noisy machine hit all of them alike. On a GPU
    each timing waits for the work it queued. ``setup[key]``, when given, runs untimed before
    every call of ``fns[key]`` (e.g. ``zero_grad``: bookkeeping that is not the work timed)."""
    setup = setup or {}

    def call(k, fn):
        if k in setup:
            setup[k]()
        return timed(fn, device)

    for _ in range(warmup):
        for k, fn in fns.items():
            call(k, fn)
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(call(k, fn))
    return times


def ratio_stats(num: list, den: list) -> Dict:
    """Median, min and max of the per-round ratios num[i] / den[i]."""
    ratios = [a / b for a, b in zip(num, den)]
    return dict(median=round(statistics.median(ratios), 4), min=round(min(ratios), 4),
                max=round(max(ratios), 4))


def median_ms(times: list) -> float:
    return round(1000 * statistics.median(times), 3)


def profiled(fn: Callable, device: torch.device, repeats: int = 3, top: int = 10,
             setup: Optional[Callable] = None) -> Dict:
    """Where ``fn``'s time goes, by ``torch.profiler``, over ``repeats`` calls after one
    unprofiled call (``setup``, e.g. ``zero_grad``, runs before each call, outside the
    profile). Per call, in ms: ``wall``; ``host``, the CPU time of every operator (their self
    times summed: Python between them is not in it); on CUDA ``device``, the kernels' time.
    ``device`` well under ``wall`` means the GPU waits for the host (launch-bound). ``top``:
    the operators with the most self time on the device (CPU: on the host), with their calls
    per call of ``fn``."""
    from torch.profiler import ProfilerActivity, profile
    on_gpu = device.type == 'cuda'
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    ops: Dict[str, list] = {}  # name -> [calls, host self us, device self us]
    wall = 0.
    for i in range(repeats + 1):
        if setup:
            setup()
        synchronize(device)
        with profile(activities=activities) as prof:
            start = time.perf_counter()
            fn()
            synchronize(device)
            seconds = time.perf_counter() - start
        if i == 0:  # warm-up
            continue
        wall += seconds
        for e in prof.key_averages():
            op = ops.setdefault(e.key, [0, 0., 0.])
            op[0] += e.count
            op[1] += e.self_cpu_time_total
            op[2] += e.self_device_time_total if on_gpu else 0.
    ms = lambda us: round(us / 1000 / repeats, 3)  # noqa: E731  (profiler times are in us)
    out = dict(wall_ms=round(1000 * wall / repeats, 3),
               host_ms=ms(sum(v[1] for v in ops.values())))
    if on_gpu:
        out['device_ms'] = ms(sum(v[2] for v in ops.values()))
    rank = 2 if on_gpu else 1
    out['top'] = [dict(op=k, calls=round(v[0] / repeats, 2), self_ms=ms(v[rank]),
                       host_self_ms=ms(v[1]))
                  for k, v in sorted(ops.items(), key=lambda kv: kv[1][rank],
                                     reverse=True)[:top]]
    return out
