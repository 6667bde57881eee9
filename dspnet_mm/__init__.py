"""dspnet_mm: slimmable (DSPNet) and dynamic-gating (VICReg) self-supervised pretraining on
mmselfsup 1.0. Importing the package registers every module (see ``dspnet_mm.registry``)."""
from .apis import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .apis.checkpoint import register_checkpoint_globals
from .engine import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403

__version__ = '0.1.0'

register_checkpoint_globals()
