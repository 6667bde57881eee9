from .checkpoint import MidEpochCheckpointHook
from .gate_annealing import GateAnnealingHook
from .non_finite_loss import NonFiniteLossHook
from .preemption import EXIT_PREEMPTED, PreemptionHook, TrainingPreempted

__all__ = ['GateAnnealingHook', 'MidEpochCheckpointHook', 'NonFiniteLossHook', 'PreemptionHook',
           'TrainingPreempted', 'EXIT_PREEMPTED']
