"""Data order and augmentation randomness that a resumed run can reproduce without replay.

- :class:`ResumableSampler` yields mmengine ``DefaultSampler``'s order (shuffled from
  ``seed + epoch``, padded to the world size, strided by rank) and can start at a position in
  the epoch, so a resumed run skips the finished part of an epoch without loading an image.
- :class:`SampleSeededDataset` seeds ``random``, numpy and torch for each sample from
  ``(seed, epoch, position in the epoch)``, handed over by the sampler with the index, so the
  augmentations of a sample do not depend on which process (main or worker, and how many
  workers) loads it, nor on what was loaded before it.

The training loops of :mod:`dspnet_mm.engine.runner.loops` put both in place of a config's
``DefaultSampler`` (see :func:`resumable_dataloader_cfg`): configs and their
``--cfg-options train_dataloader.dataset.*`` overrides stay as they are.
"""
import copy
import random
from typing import Iterator, Optional, Sized, Tuple, Union

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS

from dspnet_mm.registry import DATASETS


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """The seed of the sample at ``position`` of epoch ``epoch``'s order (a 32-bit int)."""
    return int(np.random.SeedSequence((seed % 2**32, epoch, position)).generate_state(1)[0])


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """mmengine's ``DefaultSampler`` (same order for the same seed, epoch and world size) that
    can start at a position of the epoch.

    ``start`` counts the samples of the epoch's global order (all ranks together) that were
    already consumed; each rank then yields its own share of the rest, so every rank resumes at
    its own position. ``set_epoch`` resets it to 0.

    Args:
        dataset, shuffle, seed, round_up: as ``DefaultSampler``.
        with_seeds: yield ``(index, seed)`` pairs (the seed from :func:`sample_seed`) for a
            :class:`SampleSeededDataset` instead of plain indices.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: Optional[int] = None,
                 round_up: bool = True, with_seeds: bool = False) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self.with_seeds = with_seeds
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        if start < 0 or start % self.world_size:
            raise ValueError(f'start={start} must be a multiple of the world size '
                             f'{self.world_size} (whole global batches)')
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[Union[int, Tuple[int, int]]]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(len(self.dataset), generator=g).tolist()
        else:
            order = list(range(len(self.dataset)))
        if self.round_up:  # pad with the order's first samples, as DefaultSampler
            order = (order * (self.total_size // len(order) + 1))[:self.total_size]
        positions = range(self.start + self.rank, self.total_size, self.world_size)
        if not self.with_seeds:
            return iter([order[p] for p in positions])
        return iter([(order[p], sample_seed(self.seed, self.epoch, p)) for p in positions])

    def __len__(self) -> int:
        """Samples of this rank in a whole epoch (a resumed epoch yields fewer)."""
        return self.num_samples


def seed_sample(seed: int) -> None:
    """Seed ``random``, numpy and torch (CPU) with ``seed``. Their previous states are not put
    back (numpy's takes 0.3 ms to save and restore, per sample): the training loops reseed
    every generator from ``(seed, iteration)`` after each batch is fetched."""
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)  # the CPU's (torch.manual_seed: CUDA's too)


@DATASETS.register_module()
class SampleSeededDataset:
    """Wraps a dataset: ``dataset[(index, seed)]`` loads and augments sample ``index`` with
    every random generator seeded from ``seed`` first (see :func:`seed_sample`); a plain
    ``dataset[index]`` is passed through.

    Args:
        dataset: the dataset, or its config.
    """

    def __init__(self, dataset):
        if isinstance(dataset, dict):
            from mmengine.registry import DATASETS as ROOT
            dataset = ROOT.build(dataset)
        self.dataset = dataset

    def full_init(self):
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    @property
    def metainfo(self):
        return copy.deepcopy(getattr(self.dataset, 'metainfo', None))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            return self.dataset[key]
        index, seed = key
        seed_sample(seed)
        return self.dataset[index]

    def __getattr__(self, name):
        if name == 'dataset' or name.startswith('__'):  # unpickling, copying
            raise AttributeError(name)
        return getattr(self.dataset, name)
