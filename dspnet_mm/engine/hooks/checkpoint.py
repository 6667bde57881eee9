"""MidEpochCheckpointHook: epoch checkpoints plus checkpoints every N iterations inside epochs."""
from collections import deque
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from dspnet_mm.registry import HOOKS

KEEP_KEY = 'keep_iter_ckpt_ids'  # message hub: the mid-epoch checkpoints kept


def write_last_checkpoint(runner, path: str) -> None:
    """Point ``work_dir/last_checkpoint`` (what ``--resume`` reads) at ``path``, atomically."""
    import os.path as osp

    from dspnet_mm.engine.atomic_backend import atomic_write
    if is_main_process():
        atomic_write(osp.join(runner.work_dir, 'last_checkpoint'), path.encode())
    runner.message_hub.update_info('last_ckpt', path)


@HOOKS.register_module()
class MidEpochCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (``epoch_{n}.pth`` every ``interval`` epochs) that also
    saves ``iter_{n}.pth`` every ``iter_interval`` iterations inside an epoch, keeping the last
    ``max_keep_iter_ckpts`` of those. A mid-epoch checkpoint records the position in the epoch
    (see :mod:`dspnet_mm.engine.runner.loops`), so a preempted run loses at most
    ``iter_interval`` iterations, not an epoch.

    Args:
        iter_interval: iterations between mid-epoch checkpoints (None: epoch ends only).
        max_keep_iter_ckpts: mid-epoch checkpoints kept (the older ones are deleted).
        *args, **kwargs: as ``CheckpointHook`` (``by_epoch`` must stay True).
    """

    def __init__(self, *args, iter_interval: Optional[int] = None,
                 max_keep_iter_ckpts: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.by_epoch:
            raise ValueError('MidEpochCheckpointHook saves epochs (by_epoch=True) and '
                             'iterations (iter_interval); use CheckpointHook for by_epoch=False')
        if iter_interval is not None and iter_interval < 1:
            raise ValueError(f'iter_interval={iter_interval!r} must be a positive int or None')
        if max_keep_iter_ckpts < 1:
            raise ValueError(f'max_keep_iter_ckpts={max_keep_iter_ckpts!r} must be >= 1')
        self.iter_interval, self.max_keep_iter_ckpts = iter_interval, max_keep_iter_ckpts

    def before_train(self, runner) -> None:
        super().before_train(runner)
        kept = list(runner.message_hub.runtime_info.get(KEEP_KEY, []))
        self.kept_iter_ckpts = deque(kept)

    def epoch_checkpoint_follows(self, runner, batch_idx: int) -> bool:
        """Whether this iteration ends an epoch whose end writes a checkpoint anyway."""
        return (self.end_of_epoch(runner.train_dataloader, batch_idx)
                and (self.every_n_epochs(runner, self.interval, self.save_begin)
                     or (self.save_last and self.is_last_train_epoch(runner))))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if (self.iter_interval is None
                or not self.every_n_train_iters(runner, self.iter_interval)
                or self.epoch_checkpoint_follows(runner, batch_idx)):
            return
        runner.logger.info(f'Saving checkpoint at {runner.iter + 1} iterations '
                           f'(epoch {runner.epoch + 1}, batch {batch_idx + 1})')
        self.save_iteration(runner)

    def save_iteration(self, runner) -> str:
        """Save ``iter_{n}.pth`` for the iteration that just ended; returns its path."""
        step = runner.iter + 1
        name = f'iter_{step}.pth'
        path = self.file_backend.join_path(self.out_dir, name)
        if not self.kept_iter_ckpts or self.kept_iter_ckpts[-1] != step:
            self.kept_iter_ckpts.append(step)
        old = [self.kept_iter_ckpts.popleft()
               for _ in range(len(self.kept_iter_ckpts) - self.max_keep_iter_ckpts)]
        # recorded before the save, so the checkpoint lists itself among those kept
        runner.message_hub.update_info(KEEP_KEY, list(self.kept_iter_ckpts))
        runner.save_checkpoint(self.out_dir, name, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler,
                               meta=dict(epoch=runner.epoch, iter=step), by_epoch=False,
                               backend_args=self.backend_args, **self.args)
        write_last_checkpoint(runner, path)
        self.last_ckpt = path
        for step in old:  # removed once the new one is complete
            old_path = self.file_backend.join_path(self.out_dir, f'iter_{step}.pth')
            if is_main_process() and self.file_backend.isfile(old_path):
                self.file_backend.remove(old_path)
        return path
