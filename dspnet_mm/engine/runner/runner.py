"""QuietRunner: mmengine's Runner with a console a user can read (the log file keeps all)."""
from mmengine.runner import Runner

from dspnet_mm import compat


class QuietRunner(Runner):
    """``Runner`` whose console leaves the environment, config and hook-order dumps and the
    per-parameter lines of the optimizer constructor to the work dir's log file, and shows
    one summary line per kind of those lines instead (e.g. "EMA target: 412 tensors not
    optimised (as intended)", "weight decay 0 on 96 norm/bias tensors (paramwise_cfg)").
    Warnings and progress lines are shown as usual. ``tools/train.py --verbose`` uses the
    plain ``Runner``."""

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        self.console_summary = compat.summarise_console(logger)
        return logger

    def build_optim_wrapper(self, optim_wrapper):
        built = super().build_optim_wrapper(optim_wrapper)
        for line in self.console_summary.flush():
            self.logger.info(line)
        return built
