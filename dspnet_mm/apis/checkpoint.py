"""Safe checkpoint loading on torch >= 2.6.

torch.load defaults to ``weights_only=True``: only tensors, containers and allow-listed classes
are unpickled, so a checkpoint cannot run code. mmengine 0.10.7 calls ``torch.load(path)``
without ``weights_only``; its training checkpoints contain a few classes beyond tensors
(``HistoryBuffer`` of the message hub, numpy arrays and scalars). We allow-list exactly those,
once, at ``import dspnet_mm`` - resume, ``load_from`` and ``init_cfg=Pretrained`` then work
while an untrusted pickle that calls an arbitrary function is still refused.
"""
import os
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

from dspnet_mm import compat


def _numpy_globals():
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in (
        'b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8', 'c8', 'c16')]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def _history_buffer_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling: the message hub pickles
    ``HistoryBuffer._statistics_methods`` as ``getattr(HistoryBuffer, 'min')`` etc. A general
    getattr would let a pickle walk to any function, so only those lookups are served."""
    allowed = {'min', 'max', 'current', 'mean', *compat.history_buffer_statistics()}
    if obj is HistoryBuffer and name in allowed and callable(HistoryBuffer.__dict__.get(name)):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}): only HistoryBuffer statistics methods are '
        'allowed in checkpoints')


def mmengine_checkpoint_globals():
    """The non-tensor globals that genuine mmengine checkpoints contain."""
    return [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr')]


def register_checkpoint_globals():
    """Allow-list the mmengine/numpy globals for every ``weights_only`` load in this process."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


class CheckpointError(ValueError):
    """A file that is missing, truncated, not a checkpoint, or refused as unsafe."""


def load_checkpoint_safely(path: str, map_location='cpu') -> dict:
    """``torch.load(path, weights_only=True)`` with the mmengine allow-list and clear errors."""
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint {path!r} does not exist')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path!r} is empty (0 bytes): an interrupted copy '
                              'or save; use another checkpoint')
    register_checkpoint_globals()
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        reason = msg.split('WeightsUnpickler error:', 1)[-1].split('Check the documentation')[0]
        reason = ' '.join(reason.split())
        if 'global' not in reason.lower() and 'refused' not in reason:
            raise CheckpointError(f'{path!r} is not a readable PyTorch checkpoint (garbled '
                                  f'or another format): {reason}') from None
        raise CheckpointError(
            f'refused to load {path!r}: it contains objects outside the safe allow-list '
            f'(weights_only=True): {reason}') from None
    except Exception as e:  # truncated zip, foreign format, garbled pickle stream
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f'{path!r} is not a readable PyTorch checkpoint (truncated or '
                              f'another format): {first}') from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path!r} holds a {type(ckpt).__name__}, not a checkpoint dict')
    return ckpt
