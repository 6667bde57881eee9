"""Linear warm-up then cosine annealing, as pl_bolts' ``LinearWarmupCosineAnnealingLR`` (the
``--scheduler warmup_cosine`` of solo-learn and of the dynamic-gating reference code)."""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class LinearWarmupCosineLR(LRSchedulerMixin, _ParamScheduler):
    """Learning rate of step ``e`` (an epoch with ``by_epoch=True``, counted from ``begin``):

        ``e < warmup``: ``warmup_start_lr + e * (base_lr - warmup_start_lr) / (warmup - 1)``
        ``e >= warmup``: ``eta_min + (base_lr - eta_min) / 2 *
        (1 + cos(pi * (e - warmup) / (total - warmup)))``

    so the warm-up reaches ``base_lr`` at step ``warmup - 1`` and the cosine starts from it at
    step ``warmup``. ``warmup_start_lr`` and ``eta_min`` are absolute learning rates (not
    factors of ``base_lr``), as in pl_bolts.

    Args:
        optimizer: the wrapped optimizer.
        warmup: warm-up steps (10 epochs in the reference), >= 1.
        total: steps of the whole schedule (500 epochs), > ``warmup``.
        warmup_start_lr: learning rate at step 0 (0.003 in the reference).
        eta_min: final learning rate (0 in the reference).
        begin, end, by_epoch, last_step, verbose: as every mmengine scheduler; ``end``
            defaults to ``begin + total``.
    """

    def __init__(self, optimizer, warmup: int, total: int, warmup_start_lr: float = 0.,
                 eta_min: float = 0., begin: int = 0, end: int = INF, last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False):
        if not 1 <= warmup < total:
            raise ValueError(f'LinearWarmupCosineLR warmup={warmup!r}, total={total!r}: '
                             'need 1 <= warmup < total')
        self.warmup, self.total = int(warmup), int(total)
        self.warmup_start_lr, self.eta_min = warmup_start_lr, eta_min
        if end == INF:
            end = begin + self.total
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    def lr_at(self, step: int, base_lr: float) -> float:
        """The closed form above."""
        if step < self.warmup:
            if self.warmup == 1:
                return base_lr
            return (self.warmup_start_lr
                    + step * (base_lr - self.warmup_start_lr) / (self.warmup - 1))
        progress = (step - self.warmup) / (self.total - self.warmup)
        return self.eta_min + 0.5 * (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress))

    def _get_value(self):
        return [self.lr_at(self.last_step, base) for base in self.base_values]

    @classmethod
    def build_iter_from_epoch(cls, *args, **kwargs):
        raise NotImplementedError('LinearWarmupCosineLR steps once per epoch, as the reference '
                                  '(pl_bolts) does; convert_to_iter_based is not supported')
