"""Every bad input gets one clear error naming the bad value and what is allowed.
(The README's Troubleshooting section lists the same cases.)"""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.apis import CheckpointError, slim
from dspnet_mm.models import SlimmableResNet

SUBNETS = dict(a=dict(widths=0.5), b=dict(widths=0.25, depths=(1, 1, 1, 1)))


def supernet():
    return SlimmableResNet(18, subnets=SUBNETS)


def ckpt_with_cfg(tmp_path, backbone, state_dict):
    path = tmp_path / 'ckpt.pth'
    text = Config(dict(model=dict(type='DSPNet', backbone=backbone))).pretty_text
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in state_dict.items()},
                    meta=dict(cfg=text)), path)
    return str(path)


CASES = {
    'unknown subnet name': (lambda tmp: supernet().set_subnet('c'),
                            ValueError, r"unknown subnet 'c'; known subnets: a, b"),
    'width 0': (lambda tmp: supernet().set_subnet(dict(widths=0)),
                ValueError, r'width 0 .* outside \(0, 1\]'),
    'width above 1': (lambda tmp: supernet().set_subnet(dict(widths=(1, 1, 1, 1.2))),
                      ValueError, r'width 1.2 .* outside \(0, 1\]'),
    'depth 0': (lambda tmp: supernet().set_subnet(dict(depths=(2, 0, 2, 2))),
                ValueError, r'depth 0 of stage 2 is outside 1..2'),
    'depth above the stage': (lambda tmp: SlimmableResNet(50).set_subnet(dict(depths=(3, 4, 7, 3))),
                              ValueError, r'depth 7 of stage 3 is outside 1..6'),
    'wrong widths length': (lambda tmp: supernet().set_subnet(dict(widths=(1, 1, 1))),
                            ValueError, r'must be one float or 4 floats'),
    'wrong depths length': (lambda tmp: supernet().set_subnet(dict(depths=(1, 1, 1, 1, 1))),
                            ValueError, r'must have 4 ints'),
    'unsupported depth': (lambda tmp: SlimmableResNet(26), ValueError,
                          r'depth 26 is not supported; choose one of \[18, 34, 50, 101\]'),
    'image channels differ from the stem': (
        lambda tmp: SlimmableResNet(18, in_channels=1)(torch.zeros(1, 3, 32, 32)),
        ValueError, r'expects images of shape \(N, 1, H, W\), got \(1, 3, 32, 32\)'),
    'slim: checkpoint of another architecture': (
        lambda tmp: slim(ckpt_with_cfg(tmp, dict(type='SlimmableResNet', depth=34,
                                                 subnets=SUBNETS),
                                       supernet().state_dict()), 'a'),
        CheckpointError, r'checkpoint of another architecture'),
    'slim: backbone-only checkpoint without metadata': (
        lambda tmp: (torch.save(dict(state_dict=supernet().state_dict()), tmp / 'bb.pth'),
                     slim(str(tmp / 'bb.pth'), 'a')),
        CheckpointError, r'carries no backbone metadata .* pass the pretraining config'),
    'slim: truncated file': (
        lambda tmp: ((tmp / 't.pth').write_bytes(b'PK\x03\x04trunc'), slim(str(tmp / 't.pth'), 'a')),
        CheckpointError, r'not a readable PyTorch checkpoint'),
    'slim: output exists': (
        lambda tmp: ((tmp / 'out.pth').write_bytes(b'x'),
                     slim(ckpt_with_cfg(tmp, dict(type='SlimmableResNet', depth=18,
                                                  subnets=SUBNETS), supernet().state_dict()),
                          'a', out=str(tmp / 'out.pth'))),
        FileExistsError, r"out.pth' exists; pass --force"),
    'slim: unknown name': (
        lambda tmp: slim(ckpt_with_cfg(tmp, dict(type='SlimmableResNet', depth=18,
                                                 subnets=SUBNETS), supernet().state_dict()),
                         'zz'),
        ValueError, r"unknown subnet 'zz'; known subnets: a, b"),
    'mmdet config: our type without the dspnet_mm. prefix': (
        lambda tmp: _build_in_scope('mmdet', dict(type='SlimmableResNet', depth=18)),
        KeyError, r'SlimmableResNet is not in the mmdet::model registry.*import-the-custom-module'),
    't_d = 0': (lambda tmp: _build_in_scope('mmselfsup', dict(type='SparsityLoss', t_d=0)),
                ValueError, r't_d=0 is the fraction of FLOPs kept; it must be in \(0, 1\]'),
    't_d above 1': (lambda tmp: _build_in_scope('mmselfsup', dict(type='SparsityLoss', t_d=1.5)),
                    ValueError, r't_d=1.5 is the fraction of FLOPs kept; it must be in \(0, 1\]'),
    'data folder missing': (
        lambda tmp: _train_with_data(tmp / 'nowhere'), AssertionError,
        r"training data not found: .*data_prefix='.*nowhere' does not exist; prepare it with: "
        r".*prepare_fashion_mnist.py"),
}


def _build_in_scope(scope, cfg):
    MODELS = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


def _train_with_data(folder):
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'train.py'),
                          os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py'),
                          '--work-dir', str(folder.parent / 'wd'), '--cfg-options',
                          f'train_dataloader.dataset.data_prefix={folder}',
                          'train_dataloader.num_workers=0',
                          'train_dataloader.persistent_workers=False'],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert out.returncode == 2
    raise AssertionError(out.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_gets_one_clear_error(case, tmp_path):
    fn, exc, match = CASES[case]
    with pytest.raises(exc, match=match):
        fn(tmp_path)


def test_cuda_graphed_refuses_a_cpu_input():
    from dspnet_mm.apis import CudaGraphed
    with pytest.raises(ValueError, match='needs an example input on a CUDA device, got one '
                                         'on cpu'):
        CudaGraphed(torch.nn.Identity(), torch.zeros(2, 3))
