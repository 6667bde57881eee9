from .dspnet import DSPNet
from .sampling import SandwichSampler
from .vicreg import VICReg
from .vicreg_dual_gating import VICRegDualGating
from .vicreg_gating import VICRegGating
