"""Overrides that would silently do nothing are refused; child configs change what they mean to."""
import os
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmselfsup.registry import MODELS

import dspnet_mm  # noqa: F401
from conftest import REPO
from dspnet_mm.testing import make_fashion_mnist
from dspnet_mm.apis.train_config import ConfigOverrideError, check_overrides, load_train_config

R50 = os.path.join(REPO, 'configs', 'dspnet_r50.py')
FMNIST = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')


@pytest.mark.parametrize('path,option,named', [
    (R50, 'data_root', ['train_dataloader.dataset.data_root']),
    (FMNIST, 'max_iters', ['train_cfg.max_iters', 'param_scheduler.1.end']),
    (R50, 'optimizer.lr', ['optim_wrapper.optimizer.lr']),
])
def test_top_level_variable_overrides_are_refused(path, option, named):
    cfg = Config.fromfile(path)
    with pytest.raises(ConfigOverrideError, match=f"'{option}'.*changes nothing") as e:
        check_overrides(cfg, {option: 1})
    for key in named:
        assert key in str(e.value)


def test_effective_overrides_pass_and_unknown_keys_are_refused():
    cfg = Config.fromfile(FMNIST)
    check_overrides(cfg, {'train_cfg.max_iters': 2, 'param_scheduler.1.end': 2,
                          'train_dataloader.dataset.data_prefix': '/x', 'work_dir': '/w',
                          'model.backbone.subnets.r18_w1.widths': 1.0})
    with pytest.raises(ConfigOverrideError, match="'max_iter'.*not a key"):
        check_overrides(cfg, {'max_iter': 2})


def test_train_cli_refuses_with_one_line():
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'train.py'), R50,
                          '--cfg-options', 'data_root=/data/imagenet/'],
                         capture_output=True, text=True, timeout=300)
    errors = [line for line in out.stderr.splitlines() if line.startswith('error:')]
    assert out.returncode == 2 and len(errors) == 1, out.stderr
    assert 'Traceback' not in out.stderr
    assert 'train_dataloader.dataset.data_root' in errors[0]


def test_merged_r50_config_has_no_stale_values():
    cfg = load_train_config(R50)
    assert cfg.optimizer.lr == cfg.optim_wrapper.optimizer.lr == 2.4  # not BYOL's 4.8
    assert cfg.optimizer.weight_decay == cfg.optim_wrapper.optimizer.weight_decay
    assert 'subnets' not in cfg  # the DN table lives in the model only
    assert '_scope_' not in cfg.train_dataloader.collate_fn  # would reach default_collate
    assert cfg.train_dataloader.collate_fn.type == 'default_collate'


def test_child_config_replaces_the_dn_table(tmp_path):
    child = tmp_path / 'my_dspnet.py'
    child.write_text(
        f"_base_ = [{R50!r}]\n"
        "model = dict(backbone=dict(subnets=dict(\n"
        "    _delete_=True,\n"
        "    r50_w1=dict(widths=1.0, depths=(3, 4, 6, 3)),\n"
        "    r50_w0375=dict(widths=0.375, depths=(3, 4, 6, 3)),\n"
        "    r34_w05=dict(widths=0.5, depths=(2, 3, 4, 2)))))\n")
    cfg = Config.fromfile(str(child))
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        model = MODELS.build(cfg.model)
    assert model.dn_names == ['r50_w1', 'r34_w05', 'r50_w0375']  # largest FLOPs first
    assert set(model.dn_heads) == {'r34_w05', 'r50_w0375'}


def test_missing_data_folder_is_one_line_naming_the_override(tmp_path):
    missing = tmp_path / 'no_imagenet'
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'train.py'), R50,
                          '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                          f'train_dataloader.dataset.data_root={missing}'],
                         capture_output=True, text=True, timeout=300)
    errors = [line for line in out.stderr.splitlines() if line.startswith('error:')]
    assert out.returncode == 2 and len(errors) == 1 and 'Traceback' not in out.stderr
    assert f'{missing}/meta/train.txt' in errors[0]
    assert 'train_dataloader.dataset.data_root' in errors[0]


def test_auto_scale_lr_flag(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('train_cli',
                                                  os.path.join(REPO, 'tools', 'train.py'))
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    cfg = train.build_config(train.parse_args([R50, '--auto-scale-lr', '--work-dir',
                                               str(tmp_path)]))
    assert cfg.auto_scale_lr == dict(base_batch_size=2048, enable=True)  # lr 2.4 is for 2048
    assert 'enable' not in train.build_config(train.parse_args([R50])).auto_scale_lr
    with pytest.raises(ConfigOverrideError, match='sets no auto_scale_lr.base_batch_size'):
        train.build_config(train.parse_args([FMNIST, '--auto-scale-lr']))


@pytest.mark.parametrize('options,message', [
    (['model.num_random=-1'], 'num_random -1 must be >= 0'),
    (['model.backbone.subnets.r18_w05.widths=1.5'], 'width 1.5'),
])
def test_model_errors_stop_before_the_runner(tmp_path, options, message):
    """A bad model setting ends the run with one line before the Runner starts: no config
    dump, no work dir filled, exit status 2."""
    data = tmp_path / 'fmnist'
    make_fashion_mnist(str(data), 8)
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'train.py'), FMNIST,
                          '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                          f'train_dataloader.dataset.data_prefix={data}', *options],
                         capture_output=True, text=True, timeout=300)
    errors = [line for line in out.stderr.splitlines() if line.startswith('error:')]
    assert out.returncode == 2 and len(errors) == 1, out.stderr[-2000:]
    assert message in errors[0]
    assert 'Traceback' not in out.stderr and 'Config:' not in out.stdout + out.stderr
    assert not (tmp_path / 'work').exists()


def test_resume_from_a_missing_file_is_refused(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', 'train.py'), FMNIST,
                          '--resume', str(tmp_path / 'iter_9.pth')],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith(
        f"error: --resume '{tmp_path}/iter_9.pth' does not exist")
