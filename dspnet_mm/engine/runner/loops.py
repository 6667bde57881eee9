"""An iteration-based training loop whose randomness depends only on (seed, iteration)."""
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.utils import set_random_seed

from dspnet_mm.registry import LOOPS


class SeededIterator:
    """Wraps a data iterator: re-seeds ``random``, numpy and torch from
    ``(runner.seed, loop.iter)`` right before each batch is fetched."""

    def __init__(self, iterator, loop):
        self.iterator, self.loop = iterator, loop

    def __iter__(self):
        return self

    def __next__(self):
        runner = self.loop.runner
        base = runner.seed if runner.seed is not None else 0
        set_random_seed(base + self.loop.iter, runner.deterministic)
        return next(self.iterator)


@LOOPS.register_module()
class ReproducibleIterBasedTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` whose data iterator re-seeds ``random``, numpy and
    torch from ``(runner.seed, iteration)`` right before fetching each batch.

    Augmentations, gate noise and anything else drawn in iteration ``i`` then depend on ``i``
    only, so a run resumed from a checkpoint repeats exactly the iterations of an
    uninterrupted run (with ``num_workers=0``; worker processes keep their own generators).
    mmengine's own ``run`` is used unchanged (the batches it skips on resume are re-seeded too,
    which changes nothing: every fetched batch is seeded afresh).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataloader_iterator = SeededIterator(self.dataloader_iterator, self)
