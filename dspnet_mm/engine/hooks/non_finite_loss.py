"""Stop training on a NaN/Inf loss, naming the iteration and the loss term."""
import math
import os

import torch
from mmengine.hooks import Hook

from dspnet_mm.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise ``FloatingPointError`` after an iteration whose logged losses are not finite.

    Every logged term is checked (``loss_r18_w05``, ``loss_vicreg_inv``...), so the message says
    which sub-network or term diverged. It runs before the ``CheckpointHook`` of the same
    iteration, so no checkpoint with non-finite weights is written and the last good one stays
    where ``last_checkpoint`` points."""
    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        bad = {}
        for key, value in (outputs or {}).items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    continue
                value = value.item()
            if isinstance(value, (int, float)) and not math.isfinite(value):
                bad[key] = value
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in bad.items())
            last = os.path.join(runner.work_dir, 'last_checkpoint')
            good = open(last).read().strip() if os.path.isfile(last) else 'none written yet'
            raise FloatingPointError(
                f'non-finite loss at iteration {runner.iter + 1}: {terms}. Training stopped; '
                f'the last good checkpoint is {good} (resume with --resume).')
