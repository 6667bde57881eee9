"""Our types resolve from configs of every upstream scope."""
import subprocess
import sys
import textwrap

import pytest
from mmengine.registry import DefaultScope

import dspnet_mm  # noqa: F401
from dspnet_mm.models import SlimmableResNet, SlimmableNonLinearNeck

CFG = dict(depth=18, subnets=dict(a=dict(widths=0.5)))


def test_plain_name_in_mmselfsup_scope():
    from mmselfsup.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        net = MODELS.build(dict(type='SlimmableResNet', **CFG))
        neck = MODELS.build(dict(type='SlimmableNonLinearNeck', in_channels=512,
                                 hid_channels=16, out_channels=8))
    assert isinstance(net, SlimmableResNet) and isinstance(neck, SlimmableNonLinearNeck)


@pytest.mark.parametrize('scope,registry', [('mmdet', 'mmdet.registry'),
                                            ('mmseg', 'mmseg.registry'),
                                            ('mmcls', 'mmcls.registry'),
                                            ('mmselfsup', 'mmselfsup.registry')])
def test_scoped_name_from_other_scopes(scope, registry):
    models = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        net = models.build(dict(type='dspnet_mm.SlimmableResNet', **CFG))
    assert isinstance(net, SlimmableResNet) and net.subnets['a'].widths == (0.5, ) * 4


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmcls'])
def test_custom_imports_in_a_fresh_process(tmp_path, scope):
    """The documented route: ``custom_imports`` in a downstream config, nothing imported by
    hand before the config is read."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent(f"""
        default_scope = '{scope}'
        custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)
        backbone = dict(type='dspnet_mm.PlainResNet', depth=18, subnet=dict(widths=0.25))
    """))
    code = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        cfg = Config.fromfile(r'{cfg}')
        assert 'dspnet_mm' in sys.modules
        init_default_scope(cfg.default_scope)
        from {scope}.registry import MODELS
        net = MODELS.build(cfg.backbone)
        print(type(net).__name__, net.out_channels)
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith('PlainResNet (128,)')
