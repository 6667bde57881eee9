from .lars import SoloLARS
from .warmup_cosine import LinearWarmupCosineLR

__all__ = ['SoloLARS', 'LinearWarmupCosineLR']
