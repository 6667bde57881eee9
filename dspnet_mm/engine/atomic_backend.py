"""A local file backend whose writes are atomic (temporary file + rename).

mmengine writes checkpoints with ``LocalBackend.put``, which opens the final path and writes
into it: a run killed mid-write leaves a truncated checkpoint. Configs select this backend for
the ``CheckpointHook`` (``backend_args=dict(backend='atomic_local')``); a crash then leaves the
previous file (and the ``last_checkpoint`` pointer) intact."""
import os
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend


class AtomicLocalBackend(LocalBackend):

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        self._atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        self._atomic_write(filepath, obj.encode(encoding))

    @staticmethod
    def _atomic_write(filepath, data: bytes):
        folder = os.path.dirname(os.path.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{os.path.basename(filepath)}.')
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


register_backend('atomic_local', AtomicLocalBackend, force=True)
