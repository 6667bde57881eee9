from .cpu_amp import CPUAmpOptimWrapper, bf16_unsupported_message
from .lars import SoloLARS
from .warmup_cosine import LinearWarmupCosineLR

__all__ = ['CPUAmpOptimWrapper', 'SoloLARS', 'LinearWarmupCosineLR', 'bf16_unsupported_message']
