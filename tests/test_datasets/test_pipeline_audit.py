"""numpy-2 audit of every upstream transform the configs use: each config's own train dataset
and pipeline (pretraining and configs/benchmarks/: mmselfsup, mmcls, mmdet, mmseg transforms)
runs 300 times on generated RGB images of that dataset's size, with a different seed each
time, so every random branch (flip, jitter order, negative hue, grayscale, solarize, blur,
crop, multi-scale resize...) fires. A transform that breaks under numpy 2 raises here."""
import glob
import importlib
import os
import random

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, DefaultScope

from conftest import REPO
from dspnet_mm.testing import write_fake_data

RUNS = 300
CONFIGS = sorted(os.path.relpath(p, os.path.join(REPO, 'configs')) for p in
                 glob.glob(os.path.join(REPO, 'configs', '*.py')) +
                 glob.glob(os.path.join(REPO, 'configs', 'benchmarks', '*', '*', '*.py')))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp('audit')


@pytest.mark.parametrize('name', CONFIGS)
def test_train_pipeline_survives_300_seeds(name, data_root):
    cfg = Config.fromfile(os.path.join(REPO, 'configs', name))
    for module in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(module)
    dataset_cfg = cfg.train_dataloader.dataset
    root = str(data_root / name.replace('/', '_'))
    for key, value in write_fake_data(dataset_cfg, root).items():
        node = dataset_cfg
        *parents, leaf = key.split('.')
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[leaf] = value
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) > 0
    for seed in range(RUNS):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        sample = dataset[seed % len(dataset)]
        inputs = sample['inputs']
        views = inputs if isinstance(inputs, list) else [inputs]
        for view in views:
            assert view.dtype == torch.uint8 and view.ndim == 3 and min(view.shape[1:]) > 0
