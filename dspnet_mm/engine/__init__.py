from .hooks import *  # noqa: F401,F403
from .atomic_backend import AtomicLocalBackend  # noqa: F401  (registers 'atomic_local')
from .runner import *  # noqa: F401,F403
