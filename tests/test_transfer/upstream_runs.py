"""Running a configs/benchmarks config with the real upstream Runner, shrunk to CPU test size:
small images, the tiny pretrained supernet's desired network, a few iterations, one
evaluation. Everything else (datasets, pipelines, models, metrics) is the config's own."""
import math
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from .conftest import REPO

BENCHMARKS = osp.join(REPO, 'configs', 'benchmarks')


def load_config(relpath: str) -> Config:
    return Config.fromfile(osp.join(BENCHMARKS, relpath))


def shrink_pipeline(pipeline, size: int):
    """Scale every resize / crop / pad size in ``pipeline`` so the shorter target side is
    ``size`` pixels (aspect ratios and transform types unchanged)."""
    for t in pipeline:
        if 'scale' in t and isinstance(t['scale'], (tuple, list)):
            k = size / min(t['scale'])
            t['scale'] = tuple(int(round(v * k)) for v in t['scale'])
        if 'scales' in t:
            k = size / min(min(s) for s in t['scales'])
            t['scales'] = [tuple(int(round(v * k)) for v in s) for s in t['scales']]
        for key in ('crop_size', 'size'):
            if key in t and isinstance(t[key], (tuple, list)):
                t[key] = (size, size)
        if 'transforms' in t:  # TestTimeAug and friends
            for group in t['transforms']:
                shrink_pipeline(group, size)


def use_slimmed_backbone(cfg: Config, slimmed: dict, subnet: str):
    """Point the config's backbone at the tiny supernet's desired network ``subnet`` and its
    slimmed checkpoint (depth 18, base width 16), keeping everything else of the config."""
    backbone = cfg.model.backbone
    supernet = dict(slimmed['supernet'])
    for key in ('depth', 'stem_channels', 'base_channels', 'subnets'):
        backbone[key] = supernet[key]
    backbone.subnet = subnet
    backbone.init_cfg = dict(type='Pretrained', checkpoint=slimmed[subnet])


def tiny_runtime(cfg: Config, work_dir: str, iters: int = 4, batch_size: int = 2):
    """``iters`` training iterations, then one evaluation, with the config's kind of loop
    (epochs for mmdet, iterations on an infinite sampler for mmseg)."""
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)  # unique: Runners of one second differ
    cfg.launcher = 'none'
    cfg.randomness = dict(seed=0)
    by_epoch = cfg.train_cfg.get('type', 'EpochBasedTrainLoop') == 'EpochBasedTrainLoop'
    if by_epoch:  # the generated train splits have iters * batch_size images
        cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    else:
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1 if by_epoch else iters,
                                        by_epoch=by_epoch)
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=2)]
    cfg.env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
                       mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        cfg[loader].pop('pin_memory', None)
    cfg.train_dataloader.batch_size = batch_size
    cfg.pop('auto_scale_lr', None)


class Recorder(Hook):
    """Snapshots ``tensors`` (name -> attribute path in the model) after weight init, every
    training loss and the evaluation metrics."""

    def __init__(self, tensors):
        self.tensors, self.initial, self.losses, self.metrics = tensors, {}, [], {}

    def before_train(self, runner):
        model = runner.model
        self.model_backbone = model.backbone
        for name, path in self.tensors.items():
            self.initial[name] = model.get_parameter(path) if path.endswith(
                ('weight', 'bias')) else model.get_buffer(path)
            self.initial[name] = self.initial[name].detach().clone()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()})

    def after_val_epoch(self, runner, metrics=None):
        self.metrics.update(metrics or {})


def run(cfg: Config, tensors) -> Recorder:
    """Train one epoch and evaluate once with the upstream Runner; return the recordings."""
    recorder = Recorder(tensors)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(recorder, priority='LOWEST')
    torch.manual_seed(0)
    runner.train()
    assert recorder.losses, 'no training iteration ran'
    for losses in recorder.losses:
        assert all(math.isfinite(v) for v in losses.values()), losses
    return recorder


def assert_loaded(recorder: Recorder, checkpoint: dict, keys):
    """The recorded tensors (after init, before training) equal the checkpoint's."""
    for name in keys:
        expected = checkpoint['state_dict'][name]
        got = recorder.initial[name]
        assert got.shape == expected.shape, (name, got.shape, expected.shape)
        assert torch.equal(got, expected), f'{name} was not loaded from the checkpoint'
