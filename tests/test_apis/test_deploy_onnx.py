"""ONNX round trips (``dspnet_mm.apis.onnx``): a slimmed DN and a gating network's dense branch
exported with a dynamic batch, run in onnxruntime, equal to PyTorch; a wrong export is caught;
``tools/pick.py --runtime onnxruntime --export-onnx`` end to end. onnx and onnxruntime are in
the ``tests`` extra: these tests run in CI, they are not skipped."""
import os

import numpy as np
import onnx
import pytest
import torch

from deploy_fixtures import FAMILY, SUBNETS, dspnet_checkpoint
from dspnet_mm.apis import onnx as ox
from dspnet_mm.apis.cli import UsageError
from dspnet_mm.apis.deploy import PickSettings, pick
from dspnet_mm.models import GatedResNet, SlimmableResNet
from conftest import randomize_bn


def round_trip(net, tmp_path, name):
    path = ox.export_onnx(net, torch.randn(2, 1, 28, 28), str(tmp_path / f'{name}.onnx'))
    onnx.checker.check_model(onnx.load(path))
    sess = ox.session(path, threads=1)
    x = torch.randn(5, 1, 28, 28)  # another batch size than the export's: dynamic batch
    diff = ox.check_against_torch(net, sess, x, name)
    got = ox.run(sess, x)
    with torch.no_grad():
        expected = net(x)
    assert len(got) == len(expected) and got[0].shape == tuple(expected[0].shape)
    return diff, sess


def test_round_trip_of_a_slimmed_dn(tmp_path):
    supernet = SlimmableResNet(**FAMILY, subnets=SUBNETS)
    randomize_bn(supernet)
    net = supernet.export('r10_w05')
    diff, _ = round_trip(net, tmp_path, 'r10_w05')
    assert diff < 1e-4


def test_round_trip_of_a_gating_dense_branch(tmp_path):
    gating = GatedResNet(**FAMILY)
    randomize_bn(gating)
    dense, _ = gating.export('dense')
    diff, _ = round_trip(dense, tmp_path, 'dense')
    assert diff < 1e-4


def test_a_wrong_export_is_an_error(tmp_path):
    supernet = SlimmableResNet(**FAMILY, subnets=SUBNETS)
    randomize_bn(supernet)
    net = supernet.export('r18_w025')
    path = ox.export_onnx(net, torch.randn(1, 1, 28, 28), str(tmp_path / 'a.onnx'))
    sess = ox.session(path)
    with torch.no_grad():  # the PyTorch network changes after the export
        net.bn1.running_mean += 0.01
    with pytest.raises(ValueError, match=r'onnxruntime differs from PyTorch by up to .* the '
                       'export is wrong'):
        ox.check_against_torch(net, sess, torch.randn(2, 1, 28, 28), 'r18_w025')


def test_pick_in_onnxruntime_writes_the_chosen_onnx(tmp_path):
    ckpt, cfg, supernet = dspnet_checkpoint(tmp_path)
    out = tmp_path / 'pick'
    report = pick(ckpt, cfg, PickSettings(runtime='onnxruntime', threads=1, warmup=1,
                                          repeats=3, max_seconds=None,
                                          budget_flops=supernet.complexity('r18_w05', 28)[
                                              'flops']),
                  str(out), export_onnx=True, say=lambda s: None).report
    assert report['chosen'] == 'r18_w05'
    assert report['machine']['runtime'].startswith('onnxruntime ')
    for r in report['candidates']:
        assert 0 <= r['onnx_max_abs_diff'] < 1e-4 and r['median_ms'] > 0
    path = out / 'r18_w05.onnx'
    sess = ox.session(str(path))
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        expected = supernet.export('r18_w05')(x)[-1].numpy()
    assert np.abs(ox.run(sess, x)[-1] - expected).max() < 1e-4
    meta = torch.load(out / 'r18_w05.pth', weights_only=False)['meta']
    assert meta['latency']['runtime'] == 'onnxruntime'


def test_missing_onnxruntime_says_how_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == 'onnxruntime':
            raise ImportError("No module named 'onnxruntime'", name='onnxruntime')
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, '__import__', no_ort)
    with pytest.raises(UsageError, match=r'onnxruntime is not installed; .* pip install -e '
                       r'\.\[deploy\]'):
        PickSettings(runtime='onnxruntime').validate()
