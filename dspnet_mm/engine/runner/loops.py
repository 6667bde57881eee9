"""Training loops that resume exactly where a run stopped, without replaying data.

Both loops
- seed ``random``, numpy and torch from ``(seed, iteration)`` right before each training step
  (gate noise, the DNs DSPNet samples, dropout), after the batch is fetched;
- draw batches through a :class:`~dspnet_mm.datasets.ResumableSampler` with the dataset in a
  :class:`~dspnet_mm.datasets.SampleSeededDataset` (put in place of a config's
  ``DefaultSampler``), so a sample's augmentations depend on ``(seed, epoch, position)`` only,
  whatever ``num_workers`` is;
- record their position in the data (epoch, samples of the epoch consumed) in the message hub
  after each step, which every checkpoint saves; a resumed run starts its sampler there: no
  image of a finished batch is read again.

A run killed at any checkpoint and resumed then repeats the losses of the uninterrupted run bit
for bit and ends with identical weights, with or without worker processes.
"""
import logging
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.utils import calc_dynamic_intervals, set_random_seed
from torch.utils.data import DataLoader

from dspnet_mm import compat
from dspnet_mm.datasets.resumable import ResumableSampler
from dspnet_mm.registry import LOOPS

POSITION_KEY = 'train_data_position'  # message hub runtime info, saved in checkpoints
REPLACEABLE_SAMPLERS = ('DefaultSampler', 'ResumableSampler')


def resumable_dataloader_cfg(dataloader: Union[DataLoader, Dict]) -> Tuple[Union[DataLoader,
                                                                               Dict], bool]:
    """``(dataloader config, resumable)``: a config's ``DefaultSampler`` becomes a
    :class:`ResumableSampler` (same order) with seeds per sample, and its dataset is wrapped in
    a :class:`SampleSeededDataset`. Other samplers (and built dataloaders) are kept:
    ``resumable`` is then False and a resume replays the finished batches, as mmengine does."""
    if not isinstance(dataloader, dict):
        return dataloader, isinstance(getattr(dataloader, 'sampler', None), ResumableSampler)
    sampler = dict(dataloader.get('sampler') or {})
    kind = sampler.get('type', '')
    kind = kind.__name__ if isinstance(kind, type) else str(kind).split('.')[-1]
    if kind not in REPLACEABLE_SAMPLERS or dataloader.get('batch_sampler'):
        return dataloader, False
    sampler.pop('_scope_', None)
    sampler.update(type=ResumableSampler, with_seeds=True)
    dataset = dataloader['dataset']
    if not (isinstance(dataset, dict) and dataset.get('type') == 'SampleSeededDataset'):
        dataset = dict(type='dspnet_mm.SampleSeededDataset', dataset=dataset)
    return dict(dataloader, sampler=sampler, dataset=dataset), True


def seed_iteration(runner, iteration: int) -> None:
    """Seed every generator from ``(runner.seed, iteration)``."""
    base = runner.seed if runner.seed is not None else 0
    set_random_seed(base + iteration, runner.deterministic)


class _ResumableMixin:
    """What both loops share: the resumable dataloader, the recorded position, the seeding."""

    def _init_data(self, runner, dataloader):
        dataloader, self.resumable = resumable_dataloader_cfg(dataloader)
        BaseLoop.__init__(self, runner, dataloader)
        self.sampler = self.dataloader.sampler if self.resumable else None
        if self.resumable:
            # mmengine gives a sampler without a seed of its own the runner's seed, which a
            # resume changes to the checkpoint's after the dataloader is built (see run)
            self._sampler_seed_from_runner = self.sampler.seed == runner.seed
        if not self.resumable:
            print_log(f'{type(self).__name__}: the sampler of this dataloader cannot start '
                      'mid-epoch (only DefaultSampler is replaced); a resume replays the '
                      'finished batches of the epoch', logger='current',
                      level=logging.WARNING)

    def _sync_sampler_seed(self):
        if self.resumable and self._sampler_seed_from_runner:
            self.sampler.seed = self.runner.seed

    @property
    def global_batch(self) -> int:
        return self.dataloader.batch_size * self.sampler.world_size

    def _record_position(self, epoch: int, consumed: int) -> None:
        """Store where the data stands after this step (``consumed`` samples of ``epoch``'s
        global order); a checkpoint written in this step's hooks saves it."""
        self.runner.message_hub.update_info(POSITION_KEY, dict(
            epoch=epoch, consumed=consumed, dataset_size=len(self.dataloader.dataset),
            global_batch=self.global_batch))

    def _saved_position(self) -> Optional[dict]:
        info = self.runner.message_hub.runtime_info.get(POSITION_KEY)
        if info is None:
            return None
        size = len(self.dataloader.dataset)
        if info['dataset_size'] != size:
            raise ValueError(
                f'cannot resume at the exact sample: the checkpoint was written by a run on '
                f"{info['dataset_size']} images, this run has {size}. Resume with the same "
                'dataset, or start a new run with load_from=CHECKPOINT')
        if info['consumed'] % self.sampler.world_size:
            raise ValueError(
                f"cannot resume at the exact sample: {info['consumed']} samples of the epoch "
                f'are done, not a multiple of the {self.sampler.world_size} processes of this '
                'run; resume with the number of processes of the run that saved it')
        return info


@LOOPS.register_module()
class ReproducibleIterBasedTrainLoop(_ResumableMixin, IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` that resumes by sampler position, not by replay.

    The data passes over the dataset epoch after epoch (the order of each from
    ``(seed, epoch)``); a resumed run starts its sampler at the recorded position, so no image
    is read before the first new iteration however far the run had come. The randomness of
    iteration ``i`` depends on ``(seed, i)`` only (see the module's docstring).
    """

    def __init__(self, runner, dataloader, max_iters: int, val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        # IterBasedTrainLoop.__init__ would start the data iterator (and its workers) at the
        # first sample; it starts in run(), once the position is known
        self._init_data(runner, dataloader)
        self._max_iters = int(max_iters)
        if self._max_iters != max_iters:
            raise ValueError(f'max_iters must be an integer, got {max_iters!r}')
        self._max_epochs, self._epoch, self._iter = 1, 0, 0
        self.val_begin, self.val_interval = val_begin, val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = self.dataloader.dataset.metainfo
        self.dataloader_iterator = None
        self.data_epoch = 0  # passes over the dataset so far
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            self.val_interval, dynamic_intervals)

    def _start_position(self) -> Tuple[int, int]:
        """``(data epoch, samples of it consumed)`` where this run's data starts."""
        saved = self._saved_position() if self._iter else None
        if saved is None:  # a fresh run, or a checkpoint without the record: from the count
            epoch, batch = divmod(self._iter, len(self.dataloader))
            return epoch, batch * self.global_batch
        if saved['consumed'] >= self.sampler.total_size:
            return saved['epoch'] + 1, 0
        return saved['epoch'], saved['consumed']

    def _next_batch(self):
        try:
            return next(self.dataloader_iterator)
        except StopIteration:  # the pass over the dataset is over: the next one
            self.data_epoch, self.consumed = self.data_epoch + 1, 0
            self.sampler.set_epoch(self.data_epoch)
            self.dataloader_iterator = iter(self.dataloader)
            return next(self.dataloader_iterator)

    def run(self):
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if not self.resumable:
            self.dataloader_iterator = compat.infinite_dataloader_iterator(self.dataloader)
            for _ in range(self._iter):  # mmengine's replay
                next(self.dataloader_iterator)
        else:
            self._sync_sampler_seed()
            self.data_epoch, self.consumed = self._start_position()
            if self._iter:
                print_log(f'resuming at iteration {self._iter}: data epoch '
                          f'{self.data_epoch}, sample {self.consumed} of '
                          f'{self.sampler.total_size} (no batch is replayed)', logger='current')
            self.sampler.set_epoch(self.data_epoch, self.consumed)
            self.dataloader_iterator = iter(self.dataloader)
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            if self.resumable:
                data_batch = self._next_batch()
                self.consumed += self.global_batch
            else:
                data_batch = next(self.dataloader_iterator)
            seed_iteration(self.runner, self._iter)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_iter(self, data_batch) -> None:
        self.runner.call_hook('before_train_iter', batch_idx=self._iter, data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch,
                                               optim_wrapper=self.runner.optim_wrapper)
        if self.resumable:
            self._record_position(self.data_epoch, self.consumed)
        self.runner.call_hook('after_train_iter', batch_idx=self._iter, data_batch=data_batch,
                              outputs=outputs)
        self._iter += 1


@LOOPS.register_module()
class ReproducibleEpochBasedTrainLoop(_ResumableMixin, EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop`` that resumes mid-epoch at the exact sample.

    A checkpoint written mid-epoch (``CheckpointHook`` with ``by_epoch=False``, or
    :class:`~dspnet_mm.engine.hooks.MidEpochCheckpointHook`) records how much of the epoch
    was consumed; a resumed run rebuilds the epoch's order from ``(seed, epoch)`` and skips
    that prefix without loading it, then goes on with batch indices, epoch-end hooks (LR
    steps per epoch, gate annealing, epoch checkpoints) as the uninterrupted run would. The
    randomness of iteration ``i`` depends on ``(seed, i)`` only.
    """

    def __init__(self, runner, dataloader, max_epochs: int, val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        self._init_data(runner, dataloader)
        self._max_epochs = int(max_epochs)
        if self._max_epochs != max_epochs:
            raise ValueError(f'max_epochs must be an integer, got {max_epochs!r}')
        self._max_iters = self._max_epochs * len(self.dataloader)
        self._epoch, self._iter = 0, 0
        self.val_begin, self.val_interval = val_begin, val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = self.dataloader.dataset.metainfo
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            self.val_interval, dynamic_intervals)
        self._resume_consumed: Optional[int] = None

    def run(self):
        if self.resumable:
            self._sync_sampler_seed()
            if self._iter:
                saved = self._saved_position()
                if saved is None:  # a checkpoint without the record: from the counts
                    done = self._iter - self._epoch * len(self.dataloader)
                    self._resume_consumed = max(done, 0) * self.global_batch
                elif saved['epoch'] == self._epoch:
                    self._resume_consumed = saved['consumed']
        return super().run()

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')  # DistSamplerSeedHook: set_epoch
        self.runner.model.train()
        first = 0
        if self.resumable:
            consumed = self._resume_consumed or 0
            self._resume_consumed = None
            if consumed >= self.sampler.total_size:  # the epoch was over, its end hooks not run
                consumed = self.sampler.total_size
            self.sampler.set_epoch(self._epoch, consumed)
            first = consumed // self.global_batch
            if consumed:
                print_log(f'resuming epoch {self._epoch + 1} at batch {first} of '
                          f'{len(self.dataloader)} (no batch is replayed)', logger='current')
        self.consumed = first * self.global_batch if self.resumable else 0
        for idx, data_batch in enumerate(self.dataloader, start=first):
            if self.resumable:
                self.consumed = min(self.consumed + self.global_batch, self.sampler.total_size)
            seed_iteration(self.runner, self._iter)
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def run_iter(self, idx, data_batch) -> None:
        self.runner.call_hook('before_train_iter', batch_idx=idx, data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch,
                                               optim_wrapper=self.runner.optim_wrapper)
        if self.resumable:
            self._record_position(self._epoch, self.consumed)
        self.runner.call_hook('after_train_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        self._iter += 1
