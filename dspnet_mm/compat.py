"""Every use of a private (underscored) upstream API, in one place.

Each function names the upstream version it was written for; ``tests/test_compat.py`` checks
each assumption against the installed packages, so an upgrade that changes one fails there,
loudly and by name, instead of somewhere deep in training.
"""
import contextlib
import logging
import re
from collections import Counter
from typing import Dict, List

import torch
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.registry import Registry

WRITTEN_FOR = dict(mmengine='0.10.7', torch='2.14.1')


def register_module(registry: Registry, module, name=None, force: bool = False) -> None:
    """``Registry._register_module`` (mmengine 0.10.7): register ``module`` under ``name``
    without the decorator (what ``register_module(module=...)`` does, without its argument
    checks that would reject a second registry's name clash handling)."""
    registry._register_module(module, name, force)


def registry_locations(registry: Registry) -> List[str]:
    """``Registry._locations`` (mmengine 0.10.7): modules imported on the first lookup."""
    return registry._locations


def set_registry_locations(registry: Registry, locations: List[str]) -> None:
    registry._locations = list(locations)


def history_buffer_statistics() -> Dict[str, callable]:
    """``HistoryBuffer._statistics_methods`` (mmengine 0.10.7): the statistics a message hub
    pickles into training checkpoints as ``getattr(HistoryBuffer, name)``."""
    return HistoryBuffer._statistics_methods


def sync_batch_norm_function():
    """``torch.nn.modules._functions.SyncBatchNorm`` (torch 2.14): the autograd function
    ``nn.SyncBatchNorm`` calls, reused for sliced (slimmable) BN weights."""
    from torch.nn.modules._functions import SyncBatchNorm
    return SyncBatchNorm


def conv_forward(conv: torch.nn.Conv2d, x, weight, bias):
    """``nn.Conv2d._conv_forward`` (torch 2.14): the convolution with given weights, honouring
    the layer's padding mode, stride, dilation and groups."""
    return conv._conv_forward(x, weight, bias)


def tensor_version(t: torch.Tensor) -> int:
    """``Tensor._version`` (torch 2.14): bumped by every in-place change of ``t``."""
    return t._version


def infinite_dataloader_iterator(dataloader):
    """``mmengine.runner.loops._InfiniteDataloaderIterator`` (mmengine 0.10.7): restarts the
    dataloader (``set_epoch`` + 1) when it is exhausted, as ``IterBasedTrainLoop`` uses it."""
    from mmengine.runner.loops import _InfiniteDataloaderIterator
    return _InfiniteDataloaderIterator(dataloader)


class _DropMessages(logging.Filter):

    def __init__(self, prefixes):
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record):
        return not str(record.getMessage()).startswith(self.prefixes)


# mmengine 0.10.7's ExponentialMovingAverage warns for momentum > 0.5, but mmselfsup 1.0's
# CosineEMA (and so BYOL, DSPNet) uses the other convention (0.99 = keep 99 %): nothing to fix
EMA_MOMENTUM_WARNING = 'The value of momentum in EMA is usually a small number'


@contextlib.contextmanager
def quiet_log(*prefixes: str):
    """Drop messages starting with ``prefixes`` that the current mmengine logger gets while
    the block runs (upstream warnings that ask nothing of the user)."""
    logger = MMLogger.get_current_instance()
    drop = _DropMessages(prefixes)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


class ConsoleSummary(logging.Filter):
    """A filter for the console handler of an mmengine logger (the log file keeps everything):
    the per-parameter lines of mmengine 0.10.7's ``DefaultOptimWrapperConstructor`` are counted
    instead of shown (:meth:`flush` gives one line per kind), and the environment, config and
    hook-order dumps of ``Runner.__init__`` are left to the log file. Other records, warnings
    included, pass."""
    FROZEN = re.compile(r'^(\S+) is skipped since its requires_grad=False$')
    PARAMWISE = re.compile(r'^paramwise_options -- (\S+):(\w+)=(.*)$')
    DUMPS = ('\n' + '-' * 60, 'Config:\n', 'Hooks will be executed in the following order',
             # CheckpointHook's own use of deprecated mmengine APIs: nothing for the user to do
             '"FileClient" will be deprecated', '"HardDiskBackend" is the alias of')

    def __init__(self):
        super().__init__()
        self.frozen: Counter = Counter()  # top-level module -> tensors
        self.paramwise: Dict[tuple, set] = {}  # (key, value) -> tensor names
        self.dropped_dumps = 0

    def filter(self, record) -> bool:
        msg = str(record.getMessage())
        frozen = self.FROZEN.match(msg)
        if frozen:
            self.frozen[frozen.group(1).split('.')[0]] += 1
            return False
        option = self.PARAMWISE.match(msg)
        if option:
            name, key, value = option.groups()
            self.paramwise.setdefault((key, value), set()).add(name)
            return False
        if msg.startswith(self.DUMPS):
            self.dropped_dumps += 1
            return False
        return True

    def flush(self, kind=None) -> List[str]:
        """One line per kind of the counted records since the last flush. ``kind(name)`` says
        whether a parameter is a ``'norm'`` layer's, a ``'bias'`` or ``'other'`` (without it,
        from the name)."""
        if kind is None:
            def kind(n):
                return ('bias' if n.endswith('.bias') else
                        'norm' if any(p in n for p in ('bn', 'norm')) else 'other')
        lines = []
        for module, n in sorted(self.frozen.items()):
            lines.append(f'EMA target: {n} tensors not optimised (as intended)'
                         if module.startswith('target') else
                         f'{module}: {n} tensors not optimised (requires_grad=False)')
        by_tensors: Dict[frozenset, List[str]] = {}  # the options set on the same tensors
        for (key, value), names in sorted(self.paramwise.items()):
            try:
                value = f'{float(value):g}'
            except ValueError:
                pass
            by_tensors.setdefault(frozenset(names), []).append(
                f"{' '.join(key.split('_'))} {value}")
        for names, options in by_tensors.items():
            norm_bias = all(kind(n) in ('norm', 'bias') for n in names)
            lines.append(f"{', '.join(options)} on {len(names)} {'norm/bias ' * norm_bias}"
                         'tensors (paramwise_cfg)')
        self.frozen, self.paramwise = Counter(), {}
        return lines


def summarise_console(logger: logging.Logger) -> ConsoleSummary:
    """Put a :class:`ConsoleSummary` on ``logger``'s console handlers (not its files)."""
    summary = ConsoleSummary()
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler):
            handler.addFilter(summary)
    return summary


def count_dispatched_ops(fn, names: bool = False):
    """How many ATen operators ``fn()`` dispatches below autograd (forward and backward),
    views (slices, reshapes: no kernel) excluded: on a GPU each is (at least) one kernel
    launch, so this counts launch overhead on any machine. With ``names``, also a
    ``{op name: count}`` dict. torch's dispatch-mode hook (``TorchDispatchMode``) lives in a
    private module."""
    from collections import Counter as Tally
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        ops = Tally()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not func.is_view:
                Counter.ops[str(func.overloadpacket.__name__)] += 1
            return func(*args, **(kwargs or {}))

    with Counter():
        fn()
    total = sum(Counter.ops.values())
    return (total, dict(Counter.ops)) if names else total
