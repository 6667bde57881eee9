"""Results as files: one markdown-table writer and one JSON writer for every tool."""
import json
import os
from typing import Any, Iterable, Sequence

from dspnet_mm.engine.atomic_backend import atomic_write


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table; cells are written with ``str`` (format numbers first)."""
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in rows:
        if len(row) != len(head):
            raise ValueError(f'row {list(row)} has {len(row)} cells; the head has {len(head)}')
        lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    return '\n'.join(lines)


def write_text(path: str, text: str) -> str:
    """Write ``text`` atomically (a crash leaves the previous file); returns ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, text.encode())
    return path


def write_json(path: str, obj: Any) -> str:
    return write_text(path, json.dumps(obj, indent=1, default=str) + '\n')
