"""What every command-line tool of dspnet_mm promises: all arguments and inputs are checked
before the long work starts, and a bad one ends the tool with one line ``error: ...`` that says
what to change, exit status 2 (as argparse uses for bad arguments), no traceback. ``--debug``
shows the traceback instead.

    parser = cli.ArgumentParser(description=...)
    ...
    def main(argv=None):
        args = parser.parse_args(argv)
        return cli.run(work, args)
"""
import argparse
import os
import sys
from typing import Callable, Optional

from .checkpoint import CheckpointError

EXIT_USAGE = 2


class UsageError(ValueError):
    """A bad argument or input that the user can fix; the message says how."""


# errors whose message is meant for the user (our own validation, missing files, registry
# lookups); anything else is a bug and keeps its traceback
USER_ERRORS = (UsageError, CheckpointError, ValueError, KeyError, OSError)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with ``--debug``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument('--debug', action='store_true',
                          help='show the traceback of an error instead of one line')


def describe(e: BaseException) -> str:
    """The user-facing text of an exception: one line."""
    if isinstance(e, KeyError) and e.args:
        text = str(e.args[0])
    elif isinstance(e, OSError) and e.filename and e.strerror:
        text = f'{e.strerror}: {e.filename!r}'
    else:
        text = str(e) or type(e).__name__
    return ' '.join(text.split())


def fail(message: str) -> int:
    print(f'error: {message}', file=sys.stderr)
    return EXIT_USAGE


def run(work: Callable[[argparse.Namespace], Optional[int]], args: argparse.Namespace) -> int:
    """``work(args)``; a user error becomes one ``error:`` line and exit status 2."""
    try:
        rc = work(args)
    except USER_ERRORS as e:
        if getattr(args, 'debug', False):
            raise
        return fail(describe(e))
    return 0 if rc is None else rc


def script(main: Callable[[Optional[list]], object]) -> int:
    """Exit status of a script whose ``main(argv)`` returns a result (the benchmarks): a user
    error becomes one ``error:`` line and status 2; ``--debug`` (taken off the arguments)
    shows the traceback."""
    argv = sys.argv[1:]
    debug = '--debug' in argv
    try:
        main([a for a in argv if a != '--debug'])
    except USER_ERRORS as e:
        if debug:
            raise
        return fail(describe(e))
    return 0


def positive(name: str, value, allow_none: bool = True):
    """``value`` if it is a number > 0 (or None when allowed), else ``UsageError``."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UsageError(f'{name} {value!r} must be > 0')
    return value


def existing_file(name: str, path: Optional[str]) -> Optional[str]:
    if path is not None and not os.path.isfile(path):
        raise UsageError(f'{name} {path!r} does not exist' if not os.path.exists(path) else
                         f'{name} {path!r} is not a file')
    return path


def writable_dir(name: str, path: str) -> str:
    """Create ``path`` (and parents) now, so a bad output folder fails before the work."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UsageError(f'{name} {path!r} cannot be created: {e.strerror}') from None
    if not os.access(path, os.W_OK):
        raise UsageError(f'{name} {path!r} is not writable')
    return path


def progress_bar(total: int, file=None):
    """mmengine's ``ProgressBar`` on a terminal; elsewhere (a log file, a batch job) a no-op
    with the same ``update`` method, so logs do not fill with thousands of bar lines."""
    stream = file or sys.stdout
    if not stream.isatty():
        return _Silent()
    from mmengine.utils import ProgressBar
    return ProgressBar(total, file=stream)


class _Silent:

    def update(self, num_tasks: int = 1):
        pass
