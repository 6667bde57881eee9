"""PreemptionHook: on SIGTERM, finish the iteration, save a checkpoint, stop with status 75."""
import functools
import os
import signal
import threading
from typing import Optional, Sequence

import torch
from mmengine.dist import all_reduce, barrier, is_distributed
from mmengine.hooks import CheckpointHook, Hook

from dspnet_mm.registry import HOOKS

from .checkpoint import MidEpochCheckpointHook, write_last_checkpoint

# sysexits.h EX_TEMPFAIL, "temporary failure, the user is invited to retry": a preempted run
# that saved its state; tools/slurm_train.sh requeues the job on it
EXIT_PREEMPTED = 75


class TrainingPreempted(Exception):
    """Training stopped on a signal after saving ``checkpoint`` (``tools/train.py`` exits
    with :data:`EXIT_PREEMPTED`)."""

    def __init__(self, signal_name: str, iteration: int, checkpoint: str):
        super().__init__(f'{signal_name}: stopped after iteration {iteration}; saved '
                         f'{checkpoint} (resume with --resume)')
        self.signal_name, self.iteration, self.checkpoint = signal_name, iteration, checkpoint


def _survive_foreign_signals(signals, init_fn, worker_id):
    """``worker_init_fn`` of a DataLoader worker: the stop signals are taken by a thread that
    ends the worker when its parent sends one (the DataLoader shutting it down) and ignores
    them from anyone else. slurm signals every process of a task, and a worker that died of it
    would fail the iteration the main process is finishing; the worker ends with it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)

    def wait():
        while True:
            if signal.sigwaitinfo(signals).si_pid == os.getppid():
                os._exit(0)

    threading.Thread(target=wait, daemon=True, name='stop-signals').start()
    if init_fn is not None:
        init_fn(worker_id)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Makes a run stoppable by a signal without losing work: slurm sends SIGTERM before it
    preempts a job or when its time runs out (``--signal``).

    The signal only sets a flag. After each iteration the ranks agree (one all-reduce of a
    flag) whether any of them got it; if so, every rank stops after the same iteration, a
    checkpoint of that iteration is written (atomically, through the config's checkpoint hook,
    unless it has just written one) and :class:`TrainingPreempted` ends training;
    ``tools/train.py`` then exits with status 75 (:data:`EXIT_PREEMPTED`). A signal during a
    checkpoint write lets the write finish. ``--resume`` goes on from that checkpoint at the
    exact sample (:mod:`dspnet_mm.engine.runner.loops`).

    Args:
        signals: names of the signals that stop training.
    """
    priority = 'LOWEST'  # after the CheckpointHook (VERY_LOW) of the same iteration

    def __init__(self, signals: Sequence[str] = ('SIGTERM', )):
        self.signals = [getattr(signal, name) for name in signals]
        self.received: Optional[int] = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.received is None:
            self.received = signum
            os.write(2, f'\n{signal.Signals(signum).name} received: finishing this iteration, '
                        'then saving a checkpoint\n'.encode())

    def before_train(self, runner) -> None:
        self.received = None
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        loader = runner.train_loop.dataloader
        if getattr(loader, 'num_workers', 0):
            loader.worker_init_fn = functools.partial(_survive_foreign_signals, tuple(self.signals),
                                                      loader.worker_init_fn)

    def after_train(self, runner) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def stop_requested(self) -> bool:
        """Whether any rank got a stop signal (all ranks get the same answer)."""
        flag = torch.tensor([0 if self.received is None else 1])
        if is_distributed():
            all_reduce(flag, op='max')
        return bool(flag.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.stop_requested():
            return
        step = runner.iter + 1
        path = self.save(runner)
        barrier()
        self.after_train(runner)
        name = signal.Signals(self.received).name if self.received else 'stop signal (a peer)'
        raise TrainingPreempted(name, step, path)

    def save(self, runner) -> str:
        """A checkpoint of the iteration that just ended (the checkpoint hook's, if it wrote
        one in this iteration); returns its path."""
        step = runner.iter + 1
        hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        hook = hooks[0] if hooks else None
        last = runner.message_hub.runtime_info.get('last_ckpt')
        if last and os.path.basename(str(last)) == f'iter_{step}.pth':
            return str(last)  # the checkpoint hook has just saved this iteration
        if isinstance(hook, MidEpochCheckpointHook):
            return hook.save_iteration(runner)
        out_dir = hook.out_dir if hook is not None else runner.work_dir
        backend_args = (hook.backend_args if hook is not None and hook.backend_args
                        else dict(backend='atomic_local'))
        name = f'iter_{step}.pth'
        runner.save_checkpoint(out_dir, name, meta=dict(epoch=runner.epoch, iter=step),
                               by_epoch=False, backend_args=backend_args)
        path = os.path.join(out_dir, name)
        write_last_checkpoint(runner, path)
        return path
