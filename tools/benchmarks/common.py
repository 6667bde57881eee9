"""Timing protocol shared by the benchmark scripts: warm-up, then interleaved repeats
(A B A B ...), reporting the median ratio and its spread, with the machine facts."""
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict

import torch
from mmengine.logging import MMLogger

# benchmarks print one JSON object: keep mmengine's build-time warnings out of stdout
MMLogger.get_instance('dspnet_mm_benchmark', log_level='ERROR')


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train(config: str, work_dir: str, options) -> tuple:
    """Run ``tools/train.py config`` with ``--cfg-options options``; return (wall seconds,
    path of the final checkpoint)."""
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'train.py'), config,
           '--work-dir', work_dir, '--cfg-options', *options]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f'training failed: {" ".join(cmd)}\n{out.stderr[-3000:]}')
    with open(os.path.join(work_dir, 'last_checkpoint')) as f:
        return seconds, f.read().strip()


def fake_views(batch: int, shape=(1, 28, 28)) -> Dict:
    """A data batch as mmselfsup's data loader gives it: two views of ``batch`` images."""
    from mmselfsup.structures import SelfSupDataSample
    return dict(inputs=[torch.randn(batch, *shape) * 50 + 70 for _ in range(2)],
                data_samples=[SelfSupDataSample() for _ in range(batch)])


def build_model(cfg_path: str, **model_overrides):
    """(model in train mode, optimizer wrapper) of a pretraining config; dict overrides are
    merged into ``model.<key>``."""
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
        model = MODELS.build(cfg.model)
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    return model, optim


def machine() -> Dict:
    return dict(torch=torch.__version__, threads=torch.get_num_threads(),
                cpus=os.cpu_count(), processor=platform.processor() or platform.machine(),
                python=platform.python_version())


def timed(fn: Callable) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: Dict[str, Callable], repeats: int, warmup: int = 2) -> Dict[str, list]:
    """Seconds of each callable over ``repeats`` rounds; in every round each callable runs
    once, in the given order, so drifts of a noisy machine hit all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return times


def ratio_stats(num: list, den: list) -> Dict:
    """Median, min and max of the per-round ratios num[i] / den[i]."""
    ratios = [a / b for a, b in zip(num, den)]
    return dict(median=round(statistics.median(ratios), 4), min=round(min(ratios), 4),
                max=round(max(ratios), 4))


def median_ms(times: list) -> float:
    return round(1000 * statistics.median(times), 3)
