"""The checkpoint allow-list is exactly what mmengine checkpoints need, and pickles that would
run code are refused by every load path with nothing run: tests of our allow-list, not only of
torch's defaults."""
import builtins
import functools
import importlib
import os
import subprocess

import numpy as np
import pytest
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import load_checkpoint

import dspnet_mm  # noqa: F401  (registers the allow-list)
from dspnet_mm.apis import CheckpointError, load_checkpoint_safely, mmengine_checkpoint_globals
from test_checkpoint import _ToyModel, _toy_runner

OURS = {
    'mmengine.logging.history_buffer.HistoryBuffer',
    'numpy._core.multiarray._reconstruct', 'numpy._core.multiarray.scalar',
    'numpy.ndarray', 'numpy.dtype',
    *(f'numpy.dtypes.{t}DType' for t in (
        'Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64',
        'Float16', 'Float32', 'Float64', 'Complex64', 'Complex128')),
    'builtins.getattr -> dspnet_mm.apis.checkpoint._history_buffer_getattr',
}


def name_of(entry):
    if isinstance(entry, tuple):
        fn, as_name = entry
        return f'{as_name} -> {fn.__module__}.{fn.__qualname__}'
    return f'{entry.__module__}.{entry.__qualname__}'


def test_allow_list_is_pinned():
    assert {name_of(g) for g in mmengine_checkpoint_globals()} == OURS
    # nothing outside torch's own defaults is allow-listed in this process but ours
    foreign = {name_of(g) for g in torch.serialization.get_safe_globals()
               if not name_of(g).startswith(('torch.', 'builtins.', 'traceback.'))
               or name_of(g).startswith('builtins.getattr')}
    assert foreign == OURS


class Payload:
    """Pickles as ``fn(*args)``: what a malicious checkpoint would call while loading."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def payloads(marker):
    touch = f'touch {marker}'
    return {
        'builtins.eval': Payload(builtins.eval, f"__import__('os').system('{touch}')"),
        'builtins.exec': Payload(builtins.exec, f"__import__('os').system('{touch}')"),
        'os.system': Payload(os.system, touch),
        'subprocess.call': Payload(subprocess.call, ['touch', str(marker)]),
        'subprocess.Popen': Payload(subprocess.Popen, ['touch', str(marker)]),
        'importlib.import_module': Payload(importlib.import_module, 'antigravity'),
        'functools.partial': Payload(functools.partial(os.system, touch)),
        'getattr on ndarray': Payload(getattr, np.ndarray, 'tofile'),
        'getattr on HistoryBuffer internals': Payload(getattr, HistoryBuffer, '__init__'),
        'torch.save': Payload(torch.save, 1, str(marker)),
        'torch.hub.load': Payload(torch.hub.load, str(marker), 'x', True, 'local'),
        'np.save (numpy, not allow-listed)': Payload(np.save, str(marker), np.zeros(1)),
    }


def loaders():
    def resume(path, tmp):
        _toy_runner(tmp / 'resume', load_from=path, resume=True).load_or_resume()

    def pretrained(path, tmp):
        model = _ToyModel()
        model.init_cfg = dict(type='Pretrained', checkpoint=path)
        model.init_weights()

    return {'load_checkpoint_safely (slim, eval tools)': lambda p, t: load_checkpoint_safely(p),
            'mmengine load_checkpoint (load_from)': lambda p, t: load_checkpoint(_ToyModel(), p),
            'Runner resume': resume,
            'init_cfg=Pretrained': pretrained}


NAMES = list(payloads('m'))


@pytest.mark.parametrize('loader', list(loaders()))
@pytest.mark.parametrize('payload', NAMES)
def test_code_carrying_pickle_is_refused_and_runs_nothing(payload, loader, tmp_path):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'backbone.weight': torch.zeros(2, 4)},
                'meta': payloads(marker)[payload]}, path)
    with pytest.raises((CheckpointError, Exception)) as e:
        loaders()[loader](path, tmp_path)
    assert 'Weights only load failed' in str(e.value) or 'refused' in str(e.value), e.value
    assert not marker.exists()
    if loader.startswith('load_checkpoint_safely'):
        assert isinstance(e.value, CheckpointError)
