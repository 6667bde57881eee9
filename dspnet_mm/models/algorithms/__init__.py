from .dspnet import DSPNet
from .sampling import SandwichSampler
