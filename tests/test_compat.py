"""Each private upstream API that ``dspnet_mm.compat`` wraps still behaves as assumed; an
upgrade that changes one fails here, by name."""
import logging

import mmengine
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import HistoryBuffer, MMLogger, print_log
from mmengine.registry import Registry

from dspnet_mm import compat


def test_written_for_the_installed_versions():
    assert mmengine.__version__ == compat.WRITTEN_FOR['mmengine'], (
        f'mmengine {mmengine.__version__}: re-check dspnet_mm/compat.py, written for '
        f"{compat.WRITTEN_FOR['mmengine']}")
    assert torch.__version__.split('+')[0] == compat.WRITTEN_FOR['torch'], (
        f"torch {torch.__version__}: re-check dspnet_mm/compat.py, written for "
        f"{compat.WRITTEN_FOR['torch']}")


def test_register_module_and_locations():
    registry = Registry('compat test', locations=['json'])

    class Thing:
        pass

    compat.register_module(registry, Thing, 'Thing')
    assert registry.get('Thing') is Thing
    with pytest.raises(KeyError, match='already registered'):
        compat.register_module(registry, Thing, 'Thing')
    compat.register_module(registry, Thing, 'Thing', force=True)
    assert compat.registry_locations(registry) == ['json']
    compat.set_registry_locations(registry, [])
    assert compat.registry_locations(registry) == []


def test_history_buffer_statistics_are_what_checkpoints_pickle():
    """The built-in statistics are methods of the class; registered ones land in the dict."""
    stats = compat.history_buffer_statistics()
    assert isinstance(stats, dict)
    for name in ('min', 'max', 'mean', 'current'):
        assert callable(HistoryBuffer.__dict__[name])

    def compat_median(self):
        return 2.0

    HistoryBuffer.register_statistics(compat_median)
    try:
        assert compat.history_buffer_statistics()['compat_median'] is compat_median
        assert HistoryBuffer([1.0, 5.0], [1, 1]).statistics('compat_median') == 2.0
    finally:
        compat.history_buffer_statistics().pop('compat_median')


def test_sync_batch_norm_function_is_an_autograd_function():
    fn = compat.sync_batch_norm_function()
    assert issubclass(fn, torch.autograd.Function) and callable(fn.apply)


def test_conv_forward_and_tensor_version():
    conv = nn.Conv2d(4, 6, 3, padding=2, dilation=2)
    x = torch.randn(1, 4, 9, 9)
    w = torch.randn(6, 4, 3, 3)
    torch.testing.assert_close(compat.conv_forward(conv, x, w, None),
                               F.conv2d(x, w, None, padding=2, dilation=2))
    v = compat.tensor_version(conv.weight)
    with torch.no_grad():
        conv.weight.add_(1)
    assert compat.tensor_version(conv.weight) == v + 1


def test_quiet_log_drops_only_the_named_messages(capsys):
    logger = MMLogger.get_instance('compat_quiet_log', log_level='INFO')
    with compat.quiet_log('noise'):
        print_log('noise from upstream', 'compat_quiet_log', logging.WARNING)
        print_log('a real warning', 'compat_quiet_log', logging.WARNING)
    print_log('noise after the block', 'compat_quiet_log', logging.WARNING)
    out = capsys.readouterr().out
    assert 'noise from upstream' not in out
    assert 'a real warning' in out and 'noise after the block' in out
    assert not logger.filters


def test_dspnet_builds_without_the_ema_momentum_warning(capsys):
    import os

    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope

    import dspnet_mm  # noqa: F401
    from conftest import REPO
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py'))
    MMLogger.get_instance('dspnet_quiet', log_level='INFO')
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        MODELS.build(cfg.model)
    print_log('still logging', 'current', logging.WARNING)
    out = capsys.readouterr().out
    assert 'still logging' in out and compat.EMA_MOMENTUM_WARNING not in out
