"""Genuine mmengine checkpoints load with weights_only=True; a malicious pickle is refused."""
import os

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import dspnet_mm  # noqa: F401  (registers the allow-list)
from dspnet_mm.apis import CheckpointError, load_checkpoint_safely, slim


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def write_malicious_checkpoint(path, marker):
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}, 'meta': _Evil(marker)}, path)


class _ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.backbone(inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def _toy_runner(work_dir, **kw):
    data = [dict(inputs=torch.randn(4)) for _ in range(8)]
    return Runner(
        model=_ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=4, val_interval=100),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine', **kw)


def test_genuine_mmengine_checkpoint_resumes_and_loads(tmp_path):
    runner = _toy_runner(tmp_path / 'a')
    runner.train()
    ckpt_path = tmp_path / 'a' / 'iter_4.pth'
    # the checkpoint really holds more than tensors (message hub history, numpy arrays)
    ckpt = load_checkpoint_safely(str(ckpt_path))
    history = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(history, HistoryBuffer) and len(history.data[0]) == 4
    assert history.statistics('min') == min(history.data[0])
    # resume (mmengine's own torch.load, weights_only by default) continues at iter 4
    resumed = _toy_runner(tmp_path / 'b', load_from=str(ckpt_path), resume=True)
    resumed.load_or_resume()
    assert resumed.iter == 4
    assert torch.equal(resumed.model.backbone.weight, runner.model.backbone.weight)
    # load_from (weights only) and init_cfg=Pretrained paths
    model = _ToyModel()
    load_checkpoint(model, str(ckpt_path))
    assert torch.equal(model.backbone.weight, runner.model.backbone.weight)
    assert load_checkpoint_safely(str(ckpt_path))['meta']['iter'] == 4


def test_malicious_checkpoint_is_refused_by_every_path(tmp_path):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    write_malicious_checkpoint(path, marker)
    with pytest.raises(CheckpointError, match='refused to load'):
        load_checkpoint_safely(path)
    with pytest.raises(Exception):
        load_checkpoint(_ToyModel(), path)  # mmengine's loader (load_from / Pretrained)
    with pytest.raises(Exception):
        torch.load(path)
    with pytest.raises(CheckpointError, match='refused to load'):
        slim(path, 'a')  # tools/slim.py and tools/eval_subnets.py load through this
    runner = _toy_runner(tmp_path / 'resume', load_from=path, resume=True)
    with pytest.raises(Exception, match='Weights only load failed'):
        runner.load_or_resume()  # --resume
    pretrained = _ToyModel()
    pretrained.init_cfg = dict(type='Pretrained', checkpoint=path)
    with pytest.raises(Exception, match='Weights only load failed'):
        pretrained.init_weights()  # init_cfg=Pretrained
    assert not marker.exists()


class _GetattrEscape:
    """A pickle that walks from an allowed class to ``os.system`` with getattr."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    path = str(tmp_path / 'escape.pth')
    torch.save({'x': _GetattrEscape()}, path)
    with pytest.raises(CheckpointError, match=r"refused getattr\(.*'__init__'\)"):
        load_checkpoint_safely(path)


def test_truncated_and_foreign_files_get_clear_errors(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.zeros(100)}}, good)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match='not a readable PyTorch checkpoint'):
        load_checkpoint_safely(str(truncated))
    text = tmp_path / 'notes.txt'
    text.write_text('hello')
    with pytest.raises(CheckpointError, match='not a readable PyTorch checkpoint'):
        load_checkpoint_safely(str(text))
    with pytest.raises(CheckpointError, match='does not exist'):
        load_checkpoint_safely(str(tmp_path / 'missing.pth'))
