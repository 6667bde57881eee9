"""Every pretraining config in configs/ trains through ``tools/train.py`` on generated data in
its dataset's own layout and file format (RGB JPEG folders + meta/train.txt, CIFAR pickles,
STL-10 binaries, Fashion-MNIST IDX). Only the data root, batch size, workers and length are
overridden: the config's pipeline, model and optimizer run unchanged (SyncBN included, which
mmengine reverts to BN in a single process)."""
import glob
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from mmcls.models import ResNet as MMClsResNet
from mmengine.config import Config

from conftest import REPO
from dspnet_mm.engine.optimizers.cpu_amp import cpu_bf16_features
from dspnet_mm.testing import write_fake_data

CONFIGS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'configs', '*.py')))


def train_two_iterations(name, tmp_path, *flags):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', name))
    data = write_fake_data(cfg.train_dataloader.dataset, str(tmp_path / 'data'), num_images=4)
    length = ('train_cfg.max_epochs=1' if 'max_epochs' in cfg.train_cfg
              else 'train_cfg.max_iters=2')
    options = [f'train_dataloader.dataset.{k}={v}' for k, v in data.items()] + [
        'train_dataloader.dataset.indices=4', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False', length,
        'default_hooks.logger.interval=1']
    work_dir = str(tmp_path / 'work')
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'train.py'),
                          os.path.join(REPO, 'configs', name), '--work-dir', work_dir,
                          *flags, '--cfg-options', *options],
                         capture_output=True, text=True, timeout=900, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-4000:]
    (scalars, ) = glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        records = [json.loads(line) for line in f if 'loss' in line]
    return cfg, work_dir, records, out.stdout + out.stderr


def cpu_config(name):
    """The CPU configs train in bf16 by default where the CPU has it: the suite runs them
    with --amp (the strict form: an error, not fp32, on a CPU without bf16). The ones pinned to
    fp32 (``*_fp32.py``, kept to reproduce fp32 results) run as they are, in fp32."""
    wrapper = Config.fromfile(os.path.join(REPO, 'configs', name)).optim_wrapper
    return wrapper.type == 'CPUAmpOptimWrapper' and wrapper.get('dtype') != 'float32'


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_on_its_own_file_format(name, tmp_path):
    amp = (cpu_config(name) and not torch.cuda.is_available()
           and bool(cpu_bf16_features()))
    cfg, work_dir, records, log = train_two_iterations(name, tmp_path, *(['--amp'] * amp))
    assert ('bf16 autocast on the CPU' in log) == amp, log[-3000:]
    assert [r['iter'] for r in records] == [1, 2]
    assert all(math.isfinite(r['loss']) for r in records)
    if cfg.model.type == 'DSPNet':  # every sampled DN logged its own loss
        dn_losses = [k for k in records[0] if k.startswith('loss_')]
        assert len(dn_losses) == 2 + cfg.model.get('num_random', 2)
        assert set(k[5:] for k in dn_losses) <= set(cfg.model.backbone.subnets)
    (ckpt, ) = [p for p in glob.glob(os.path.join(work_dir, '*.pth'))]
    state = torch.load(ckpt, map_location='cpu')  # weights_only: our allow-list suffices
    assert state['meta']['iter'] == 2
    if name == 'dspnet_r50.py':  # the trained checkpoint slims into mmcls's stock ResNet
        out = tmp_path / 'r50_w025.pth'
        run = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'slim.py'), ckpt,
                              '--subnet', 'r50_w025', '--out', str(out)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        slimmed = torch.load(str(out), map_location='cpu')
        stock = MMClsResNet(**slimmed['meta']['stock_resnet'])
        stock.load_state_dict(slimmed['state_dict'], strict=True)
        assert slimmed['meta']['stock_resnet']['base_channels'] == 16  # 64 x 0.25
