"""TrainRunner: mmengine's Runner with a console a user can read, and CPU distributed runs."""
import torch
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import Runner
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from dspnet_mm import compat


class TrainRunner(Runner):
    """The ``Runner`` of ``tools/train.py``.

    - Quiet console (``quiet = True``, unless ``tools/train.py --verbose``): mmengine's
      environment, config and hook-order dumps and the per-parameter lines of the optimizer
      constructor go to the work dir's log file only; the console gets one summary line per
      kind instead (e.g. "EMA target: 412 tensors not optimised (as intended)", "weight decay 0
      on 96 norm/bias tensors (paramwise_cfg)"). Warnings and progress lines show as usual.
    - Distributed on CPUs (gloo): SyncBN layers become BN before DDP wraps the model, as
      mmengine does in a single process (torch's SyncBatchNorm runs on GPUs only).
    """
    quiet = True

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        self.console_summary = compat.summarise_console(logger) if self.quiet else None
        return logger

    def wrap_model(self, model_wrapper_cfg, model):
        if self.distributed and not torch.cuda.is_available():
            model = revert_sync_batchnorm(model)
        return super().wrap_model(model_wrapper_cfg, model)

    def build_optim_wrapper(self, optim_wrapper):
        built = super().build_optim_wrapper(optim_wrapper)
        if self.console_summary is None:
            return built
        norms = {name for name, m in self.model.named_modules()
                 if isinstance(m, (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm))}

        def kind(param):
            module, _, leaf = param.rpartition('.')
            return 'norm' if module in norms else 'bias' if leaf == 'bias' else 'other'

        for line in self.console_summary.flush(kind):
            self.logger.info(line)
        return built


class VerboseTrainRunner(TrainRunner):
    """:class:`TrainRunner` with mmengine's full console output."""
    quiet = False
