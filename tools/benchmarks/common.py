"""Timing protocol shared by the benchmark scripts: warm-up, then interleaved repeats
(A B A B ...), reporting the median ratio and its spread, with the machine facts."""
import os
import platform
import statistics
import time
from typing import Callable, Dict

import torch
from mmengine.logging import MMLogger

# benchmarks print one JSON object: keep mmengine's build-time warnings out of stdout
MMLogger.get_instance('dspnet_mm_benchmark', log_level='ERROR')


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
