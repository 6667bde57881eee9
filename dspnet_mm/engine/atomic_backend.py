"""Atomic file writes (temporary file + fsync + rename), and the local file backend built on them.

mmengine writes checkpoints with ``LocalBackend.put``, which opens the final path and writes
into it: a run killed mid-write leaves a truncated checkpoint. Configs select this backend for
the ``CheckpointHook`` (``backend_args=dict(backend='atomic_local')``); a crash then leaves the
previous file (and the ``last_checkpoint`` pointer) intact. ``tools/slim.py`` writes through
:func:`atomic_write` too. A writer killed with SIGKILL cannot remove its temporary file: the
next write into the same folder removes the temporaries of writers that no longer run."""
import glob
import os
import re
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

# .<target name>.<pid of the writer>.<random>.partial
_TEMPORARY = re.compile(r'^\..+\.(\d+)\.[^.]+\.partial$')


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(folder: str) -> list:
    """Delete the temporary files that writers which no longer run left in ``folder``;
    returns their paths."""
    removed = []
    for path in glob.glob(os.path.join(glob.escape(folder), '.*.partial')):
        match = _TEMPORARY.match(os.path.basename(path))
        if match and not _running(int(match.group(1))):
            try:
                os.remove(path)
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def atomic_write(filepath: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``filepath`` so that readers see the old file or the new one, never a
    part: a temporary file in the same folder, fsync, then ``os.replace``."""
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix='.partial',
                               prefix=f'.{os.path.basename(filepath)}.{os.getpid()}.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose ``put``/``put_text`` go through :func:`atomic_write`."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj.encode(encoding))


register_backend('atomic_local', AtomicLocalBackend, force=True)
