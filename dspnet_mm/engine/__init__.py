from .hooks import *  # noqa: F401,F403
from .atomic_backend import (AtomicLocalBackend, atomic_write,  # noqa: F401  (registers 'atomic_local')
                             remove_stale_temporaries)
from .runner import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403  (registers SoloLARS, LinearWarmupCosineLR)
