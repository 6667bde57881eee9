"""Tiny checkpoints and configs for the tests of ``tools/pick.py`` and the low-label
evaluation: a DSPNet supernet, a dynamic-gating network and a continuous supernet, each with a
config reading generated Fashion-MNIST files (the config's own input path)."""
import os

import torch

from conftest import randomize_bn
from dspnet_mm.models import GatedResNet, SlimmableResNet
from dspnet_mm.testing import make_fashion_mnist

SUBNETS = dict(r18_w1=dict(widths=1.0), r18_w05=dict(widths=0.5),
               r10_w05=dict(widths=0.5, depths=(1, 1, 1, 1)), r18_w025=dict(widths=0.25))
FAMILY = dict(depth=18, in_channels=1, stem_channels=8, base_channels=8, small_input=True)


def write_config(path, backbone: dict, data_root: str, **model) -> str:
    model = dict(type='DSPNet', backbone=backbone,
                 data_preprocessor=dict(mean=(72.9, ), std=(90.0, )), **model)
    text = ("custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)\n"
            f'model = {model!r}\n'
            'train_dataloader = dict(batch_size=8, dataset=dict(type="LocalFashionMNIST", '
            f'data_prefix={data_root!r}, test_mode=False, pipeline=[]))\n')
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def dspnet_checkpoint(tmp_path, num_images: int = 40, continuous: bool = False,
                      subnets=SUBNETS, data: bool = True):
    """(checkpoint, config, supernet in eval mode) of a tiny DSPNet run; the checkpoint is as
    mmengine writes it (``backbone.`` keys), its config reads ``num_images`` generated
    Fashion-MNIST images per split (or a folder that does not exist, ``data=False``)."""
    root = str(tmp_path / 'fmnist')
    if data:
        make_fashion_mnist(root, num_images)
    backbone = dict(type='SlimmableResNet', **FAMILY, subnets=subnets)
    extra = dict(sample_space='continuous', min_width=0.25) if continuous else {}
    cfg = write_config(tmp_path / 'dspnet_tiny.py', backbone, root, **extra)
    net = SlimmableResNet(**FAMILY, subnets=subnets)
    randomize_bn(net)
    ckpt = str(tmp_path / 'dspnet_tiny.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in net.state_dict().items()},
                    meta=dict(iter=1)), ckpt)
    return ckpt, cfg, net.eval()


def gating_checkpoint(tmp_path, num_images: int = 16, data: bool = True):
    """(checkpoint, config, network) of a tiny dynamic-gating run."""
    root = str(tmp_path / 'fmnist')
    if data:
        make_fashion_mnist(root, num_images)
    args = dict(FAMILY)
    backbone = dict(type='GatedResNet', **args)
    cfg = write_config(tmp_path / 'gating_tiny.py', backbone, root)
    net = GatedResNet(**args)
    randomize_bn(net)
    ckpt = str(tmp_path / 'gating_tiny.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in net.state_dict().items()}),
               ckpt)
    return ckpt, cfg, net.eval()
