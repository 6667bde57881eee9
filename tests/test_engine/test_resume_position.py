"""Resume by sampler position (no replay), per-sample seeding, mid-epoch checkpoints and the
SIGTERM stop, in one process on a toy model whose data and forward both draw random numbers
(fast; tests/test_engine/test_preemption_ddp.py runs the paper-scale configs)."""
import itertools
import os
import random
import shutil
import signal

import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import IterBasedTrainLoop, Runner

import dspnet_mm  # noqa: F401
from dspnet_mm.apis import load_checkpoint_safely
from dspnet_mm.datasets import ResumableSampler, SampleSeededDataset
from dspnet_mm.engine.hooks import (MidEpochCheckpointHook, PreemptionHook,
                                    TrainingPreempted)
from dspnet_mm.engine.runner import (ReproducibleEpochBasedTrainLoop,
                                     ReproducibleIterBasedTrainLoop)


class CountingDataset:
    """Items draw from all three generators, as augmentations do; ``loads`` counts reads."""

    def __init__(self, n=20):
        self.n, self.loads = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.loads += 1
        noise = [np.random.rand(), random.random(), torch.rand(1).item()]
        return dict(inputs=torch.tensor([float(i), *noise]))


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(0.5, 1.5, 4))

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = torch.stack(inputs) if isinstance(inputs, list) else inputs
        drop = torch.rand(x.shape[-1]) > 0.3  # randomness of the model's own
        return dict(loss=((x * self.w * drop).sum(1) ** 2).mean())


class Record(Hook):
    """Losses per iteration, and the images read before each iteration's batch."""

    def __init__(self):
        self.losses, self.loads_before = {}, {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.loads_before[runner.iter + 1] = loaded(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses[runner.iter + 1] = outputs['loss'].item()


class SendSigterm(Hook):
    """Sends this process SIGTERM during iteration ``at`` (as slurm would)."""
    priority = 'HIGHEST'

    def __init__(self, at):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


NAMES = itertools.count()


def loaded(runner):
    ds = runner.train_dataloader.dataset
    return getattr(ds, 'dataset', ds).loads


def make_runner(work_dir, loop, length, resume=False, hooks=(), batch=3, workers=0,
                sampler='DefaultSampler', checkpoint=None, seed=7):
    train_cfg = dict(type=loop, **length)
    record = Record()
    runner = Runner(
        model=ToyModel(), work_dir=str(work_dir), experiment_name=f'toy{next(NAMES)}',
        train_dataloader=dict(dataset=CountingDataset(), batch_size=batch, num_workers=workers,
                              sampler=dict(type=sampler, shuffle=True),
                              collate_fn=dict(type='default_collate')),
        train_cfg=train_cfg, optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=checkpoint or dict(type='CheckpointHook', interval=3,
                                                         by_epoch=False)),
        custom_hooks=[record, PreemptionHook(), *hooks], randomness=dict(seed=seed),
        resume=resume, default_scope='mmengine')
    return runner, record


def test_resumable_sampler_is_default_sampler_order_and_starts_mid_epoch():
    ds = list(range(11))
    for world, rank in ((1, 0), (2, 0), (2, 1)):
        ref, ours = DefaultSampler(ds, seed=3), ResumableSampler(ds, seed=3)
        for s in (ref, ours):
            s.rank, s.world_size = rank, world
            s.num_samples = -(-len(ds) // world)
            s.total_size = s.num_samples * world
        for epoch in (0, 1):
            ref.set_epoch(epoch)
            ours.set_epoch(epoch)
            assert list(ours) == list(ref)
            ours.set_epoch(epoch, start=4)  # 4 samples of the global order done
            assert list(ours) == list(ref)[4 // world:]
    with pytest.raises(ValueError, match='multiple of the world size'):
        ours.set_epoch(0, start=3)
    seeded = ResumableSampler(ds, seed=3, with_seeds=True)
    pairs = list(seeded)
    assert [i for i, _ in pairs] == list(DefaultSampler(ds, seed=3))
    assert len({s for _, s in pairs}) == len(pairs)  # one seed per position
    seeded.set_epoch(1)
    assert {s for _, s in seeded}.isdisjoint({s for _, s in pairs})


def test_sample_seeded_dataset_depends_on_the_seed_only():
    ds = SampleSeededDataset(CountingDataset())
    first = ds[(4, 123)]['inputs']
    np.random.rand(5), random.random(), torch.rand(3)  # other history before the read
    assert torch.equal(ds[(4, 123)]['inputs'], first)
    assert not torch.equal(ds[(4, 124)]['inputs'], first)
    assert ds[4]['inputs'][0] == 4  # plain indices pass through


def test_iter_resume_reads_no_image_of_finished_batches(tmp_path):
    """Resuming at iteration 6 reads the images of iteration 7 and nothing before them
    (mmengine's loop replays 6 batches = 18 images first); losses and weights equal the
    uninterrupted run's, across a pass over the dataset (20 images, batch 3)."""
    ref, ref_rec = make_runner(tmp_path / 'ref', ReproducibleIterBasedTrainLoop,
                               dict(max_iters=10))
    ref.train()
    run, _ = make_runner(tmp_path / 'run', ReproducibleIterBasedTrainLoop, dict(max_iters=6))
    run.train()
    shutil.copytree(tmp_path / 'run', tmp_path / 'up')
    res, rec = make_runner(tmp_path / 'run', ReproducibleIterBasedTrainLoop,
                           dict(max_iters=10), resume=True)
    res.train()
    # iteration 7 is the last batch of the first pass (2 images); 8-10 the next pass's first
    assert rec.loads_before[7] == 2, 'images of finished batches were read'
    assert loaded(res) == 2 + 3 * 3
    assert rec.losses == {i: ref_rec.losses[i] for i in range(7, 11)}
    assert torch.equal(res.model.w, ref.model.w)
    # the same resume through mmengine's loop replays the 6 finished batches first
    up, up_rec = make_runner(tmp_path / 'up', IterBasedTrainLoop, dict(max_iters=10),
                             resume=True)
    up.train()
    assert up_rec.loads_before[7] == 6 * 3 + 2


@pytest.mark.parametrize('workers, at', [(0, 5), (2, 5), (0, 7)])
def test_sigterm_mid_epoch_then_resume_equals_uninterrupted(tmp_path, workers, at):
    """SIGTERM in iteration 5 of 7 per epoch (20 images, batch 3): the run finishes iteration 5,
    saves iter_5.pth and stops; --resume continues at batch 5 of epoch 1 and ends equal to
    the uninterrupted run (losses ==, weights torch.equal), with or without workers. In
    iteration 7 (the epoch's last): the resumed run starts with the epoch's end (its hooks,
    the epoch checkpoint)."""
    ckpt = dict(type=MidEpochCheckpointHook, interval=1, iter_interval=4,
                max_keep_iter_ckpts=1, backend_args=dict(backend='atomic_local'))
    kw = dict(checkpoint=ckpt, workers=workers)
    length = dict(max_epochs=2)
    ref, ref_rec = make_runner(tmp_path / 'ref', ReproducibleEpochBasedTrainLoop, length, **kw)
    ref.train()
    run, run_rec = make_runner(tmp_path / 'run', ReproducibleEpochBasedTrainLoop, length,
                               hooks=[SendSigterm(at=at)], **kw)
    with pytest.raises(TrainingPreempted, match=f'SIGTERM: stopped after iteration {at}'):
        run.train()
    assert sorted(run_rec.losses) == list(range(1, at + 1))
    saved = load_checkpoint_safely(str(tmp_path / 'run' / f'iter_{at}.pth'))
    assert saved['meta']['epoch'] == 0 and saved['meta']['iter'] == at
    assert open(tmp_path / 'run' / 'last_checkpoint').read().endswith(f'iter_{at}.pth')
    assert not (tmp_path / 'run' / 'epoch_1.pth').exists()
    assert not (tmp_path / 'run' / 'iter_4.pth').exists()  # max_keep_iter_ckpts=1
    res, rec = make_runner(tmp_path / 'run', ReproducibleEpochBasedTrainLoop, length,
                           resume=True, **kw)
    res.train()
    assert {**run_rec.losses, **rec.losses} == ref_rec.losses
    assert sorted(rec.losses) == list(range(at + 1, 15))
    assert (tmp_path / 'run' / 'epoch_1.pth').exists()
    assert torch.equal(res.model.w, ref.model.w)
    if not workers:  # only the images left of epoch 1 and the 20 of epoch 2 were read
        assert loaded(res) == max(20 - 3 * at, 0) + 20
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler removed after training


class SigtermWhileSaving(Hook):
    """Sends this process SIGTERM while the checkpoint of iteration ``at`` is being written
    (between its state being gathered and the file write)."""

    def __init__(self, at):
        self.at = at

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] == self.at:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_during_a_checkpoint_write_loses_nothing(tmp_path):
    """The write in progress (iter_8.pth) completes, the previous checkpoint (iter_4.pth) is
    untouched, the run stops after that iteration without writing it twice, and the next run
    resumes from it, equal to the uninterrupted run."""
    ckpt = dict(type=MidEpochCheckpointHook, interval=1, iter_interval=4,
                backend_args=dict(backend='atomic_local'))
    length = dict(max_epochs=2)
    ref, ref_rec = make_runner(tmp_path / 'ref', ReproducibleEpochBasedTrainLoop, length,
                               checkpoint=ckpt)
    ref.train()
    run_dir = tmp_path / 'run'
    run, run_rec = make_runner(run_dir, ReproducibleEpochBasedTrainLoop, length,
                               checkpoint=ckpt, hooks=[SigtermWhileSaving(at=8)])
    with pytest.raises(TrainingPreempted, match='stopped after iteration 8'):
        run.train()
    assert sorted(run_rec.losses) == list(range(1, 9))
    assert sorted(p.name for p in run_dir.glob('*.pth')) == ['epoch_1.pth', 'iter_4.pth',
                                                             'iter_8.pth']
    assert not list(run_dir.glob('.*.partial'))
    assert load_checkpoint_safely(str(run_dir / 'iter_4.pth'))['meta']['iter'] == 4
    assert load_checkpoint_safely(str(run_dir / 'iter_8.pth'))['meta']['iter'] == 8
    assert open(run_dir / 'last_checkpoint').read() == str(run_dir / 'iter_8.pth')
    res, rec = make_runner(run_dir, ReproducibleEpochBasedTrainLoop, length, resume=True,
                           checkpoint=ckpt)
    res.train()
    assert {**run_rec.losses, **rec.losses} == ref_rec.losses
    assert torch.equal(res.model.w, ref.model.w)


def test_resume_of_a_run_without_a_seed_uses_the_checkpoints(tmp_path):
    """Paper-scale configs set no seed: the first run draws one, the checkpoint keeps it, and
    the resumed run's sampler and iteration seeds use it (mmengine builds the sampler with a
    new random seed before it loads the checkpoint)."""
    run, run_rec = make_runner(tmp_path / 'run', ReproducibleIterBasedTrainLoop,
                               dict(max_iters=6), seed=None)
    run.train()
    seed = load_checkpoint_safely(str(tmp_path / 'run' / 'iter_6.pth'))['meta']['seed']
    res, rec = make_runner(tmp_path / 'run', ReproducibleIterBasedTrainLoop,
                           dict(max_iters=10), resume=True, seed=None)
    res.train()
    assert res.seed == seed
    ref, ref_rec = make_runner(tmp_path / 'ref', ReproducibleIterBasedTrainLoop,
                               dict(max_iters=10), seed=seed)
    ref.train()
    assert {**run_rec.losses, **rec.losses} == ref_rec.losses
    assert torch.equal(res.model.w, ref.model.w)
