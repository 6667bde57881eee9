from .dspnet import DSPNet
from .sampling import SandwichSampler
from .vicreg import VICReg
from .vicreg_dual_gating import VICRegDualGating
from .vicreg_gating import VICRegGating
# the heads and losses these algorithms' configs name (dspnet_mm/models/__init__.py does not
# import those subpackages)
from ..heads import *  # noqa: F401,F403,E402
from ..losses import *  # noqa: F401,F403,E402
