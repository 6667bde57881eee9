"""GateAnnealingHook: anneals the density bounds of the sparsity loss once per epoch."""
import math
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop

from dspnet_mm.models.losses.sparsity_loss import SparsityLoss
from dspnet_mm.registry import HOOKS


@HOOKS.register_module()
class GateAnnealingHook(Hook):
    """Sets ``p = exp(-alpha * epoch)`` in every ``SparsityLoss`` of the model at the start of
    each epoch (the bound loss pinches layer densities to sqrt(t_d) at p = 1 and frees them as
    p -> 0).

    What an epoch is: with ``iters_per_epoch`` given, ``runner.iter // iters_per_epoch`` (a
    CPU-sized iteration schedule can compress a long annealing); otherwise ``runner.epoch`` in
    an epoch-based loop, or ``runner.iter // len(train_dataloader)`` in an iteration-based one
    (dataset length / batch size per process).

    Resume: ``p`` is a buffer of the loss, saved in every checkpoint, and it is recomputed
    from the restored ``runner.iter`` / ``runner.epoch`` before the first resumed iteration, so
    a resumed run sees the same ``p`` as an uninterrupted one.

    Args:
        alpha: decay rate per epoch (0.02 in the paper).
        iters_per_epoch: iterations per annealing epoch (None: see above).
    """
    priority = 'NORMAL'

    def __init__(self, alpha: float = 0.02, iters_per_epoch: Optional[int] = None):
        if alpha < 0:
            raise ValueError(f'alpha={alpha!r} must be >= 0')
        if iters_per_epoch is not None and iters_per_epoch < 1:
            raise ValueError(f'iters_per_epoch={iters_per_epoch!r} must be a positive int')
        self.alpha, self.iters_per_epoch = alpha, iters_per_epoch
        self._epoch: Optional[int] = None

    def epoch_of(self, runner) -> int:
        if self.iters_per_epoch is not None:
            return runner.iter // self.iters_per_epoch
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            return runner.epoch
        return runner.iter // len(runner.train_dataloader)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        epoch = self.epoch_of(runner)
        if epoch == self._epoch:
            return
        self._epoch = epoch
        p = math.exp(-self.alpha * epoch)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        losses = [m for m in model.modules() if isinstance(m, SparsityLoss)]
        if not losses:
            raise RuntimeError('GateAnnealingHook found no SparsityLoss in the model; '
                               'remove the hook or use a gated algorithm')
        for loss in losses:
            loss.set_p(p)
        runner.message_hub.update_info('gate_p', p)
