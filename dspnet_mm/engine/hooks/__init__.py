from .gate_annealing import GateAnnealingHook
from .non_finite_loss import NonFiniteLossHook

__all__ = ['GateAnnealingHook', 'NonFiniteLossHook']
