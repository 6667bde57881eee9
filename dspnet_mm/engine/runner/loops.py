"""An iteration-based training loop whose randomness depends only on (seed, iteration)."""
import logging

from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.utils import set_random_seed

from dspnet_mm.registry import LOOPS


@LOOPS.register_module()
class ReproducibleIterBasedTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` that re-seeds ``random``, numpy and torch from
    ``(runner.seed, iteration)`` right before fetching each batch.

    Augmentations, gate noise and anything else drawn in iteration ``i`` then depend on ``i``
    only, so a run resumed from a checkpoint repeats exactly the iterations of an
    uninterrupted run (with ``num_workers=0``; worker processes keep their own generators).
    """

    def run(self):
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            print_log(f'Advance dataloader {self._iter} steps to skip data that has already '
                      'been trained', logger='current', level=logging.WARNING)
            for _ in range(self._iter):
                next(self.dataloader_iterator)
        base_seed = self.runner.seed if self.runner.seed is not None else 0
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            set_random_seed(base_seed + self._iter, self.runner.deterministic)
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
