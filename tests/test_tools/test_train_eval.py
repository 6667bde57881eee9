"""A real (short) DSPNet pretraining run on Fashion-MNIST, then the per-DN evaluation."""
import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, load_tool

eval_subnets = load_tool('eval_subnets.py')

CFG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')
DATA = os.path.join(REPO, 'data', 'fashion_mnist')


def scalars(work_dir):
    path = glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))[0]
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope='module')
def short_run(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('dspnet_short'))
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'train.py'), CFG, '--work-dir', work_dir,
           '--cfg-options', 'train_cfg.max_iters=24', 'train_dataloader.batch_size=32',
           'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
           f'train_dataloader.dataset.data_prefix={DATA}',
           'train_dataloader.dataset.indices=2000', 'default_hooks.logger.interval=4',
           'default_hooks.checkpoint.interval=24']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return work_dir


def test_loss_decreases_on_real_data(short_run):
    losses = [r['loss'] for r in scalars(short_run) if 'loss' in r]
    assert len(losses) == 6
    assert all(-20 < v < 20 for v in losses)
    assert losses[-1] < losses[0] - 1.0  # BYOL loss (negative cosine) falls on real data


def test_eval_subnets_reports_every_dn(short_run, tmp_path):
    out_dir = str(tmp_path / 'eval')
    ckpt = os.path.join(short_run, 'iter_24.pth')
    rc = eval_subnets.main([ckpt, '--config', CFG, '--train-subset', '1000',
                            '--test-subset', '300', '--linear-epochs', '30',
                            '--random-init', '--out-dir', out_dir, '--cfg-options',
                            f'train_dataloader.dataset.data_prefix={DATA}'])
    assert rc == 0
    with open(os.path.join(out_dir, 'results.json')) as f:
        rows = json.load(f)
    assert [r['name'] for r in rows] == ['r18_w1', 'r18_w075', 'r18_w05', 'r10_w05',
                                         'r18_w025', 'raw pixels']
    *rows, floor = rows
    for r in rows + [floor]:
        assert 10 < r['knn_top1'] <= 100 and 10 < r['linear_top1'] <= 100
        assert r['linear_train_top1'] > 10 and r['linear_l2'] > 0  # converged probe reported
    for r in rows:
        assert 10 < r['knn_top1_random_init'] <= 100
    assert floor['method'] == 'floor' and floor['spec'] is None
    flops = [r['flops'] for r in rows]
    assert flops[0] > flops[1] > flops[2] > flops[4]
    assert os.path.getsize(os.path.join(out_dir, 'accuracy_vs_flops.png')) > 1000


BAD_EVAL_ARGS = {  # argument -> what the one error line must say
    ('--subnets', 'r18_w1,bogus'): "unknown subnet 'bogus'",
    ('--train-subset', '0'): '--train-subset 0 must be an integer >= 1',
    ('--k', '0'): '--k 0 must be an integer >= 1',
    ('--k', '500', '--train-subset', '100'): '--k 500 exceeds the 100 training images',
    ('--batch-size', '-1'): '--batch-size -1 must be an integer >= 1',
    ('--semi', '0.1,x'): "--semi '0.1,x' must be comma-separated fractions",
    ('--semi', '1.5'): '--semi fraction 1.5 is outside (0, 1]',
    ('--baseline', 'r18_w05'): "--baseline 'r18_w05' must be NAME=CHECKPOINT",
    ('--baseline', 'r18_w05=/missing.pth'): "checkpoint '/missing.pth' does not exist",
    ('--baseline', 'nope=/missing.pth'): "'nope' is not a desired network",
    ('--subnets', ','): '--subnets is empty',
}


@pytest.mark.parametrize('bad', list(BAD_EVAL_ARGS), ids=lambda b: ' '.join(b))
def test_eval_subnets_refuses_bad_arguments_before_any_work(short_run, tmp_path, capsys, bad):
    """Each bad value ends the tool with exit status 2 and one ``error:`` line, before any
    feature is extracted: no results file is written."""
    ckpt = os.path.join(short_run, 'iter_24.pth')
    out_dir = tmp_path / 'eval'
    rc = eval_subnets.main([ckpt, '--config', CFG, *bad, '--out-dir', str(out_dir),
                            '--cfg-options', f'train_dataloader.dataset.data_prefix={DATA}'])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith('error: ') and len(err.strip().splitlines()) == 1, err
    assert BAD_EVAL_ARGS[bad] in err, err
    assert not (out_dir / 'results.json').exists()


def test_eval_subnets_missing_data_names_the_fix(short_run, tmp_path, capsys):
    ckpt = os.path.join(short_run, 'iter_24.pth')
    rc = eval_subnets.main([ckpt, '--config', CFG, '--cfg-options',
                            f'train_dataloader.dataset.data_prefix={tmp_path}/nowhere'])
    err = capsys.readouterr().err
    assert rc == 2 and 'nowhere' in err and 'prepare_fashion_mnist.py' in err


def test_eval_subnets_debug_shows_the_traceback(short_run):
    ckpt = os.path.join(short_run, 'iter_24.pth')
    with pytest.raises(ValueError, match="unknown subnet 'bogus'"):
        eval_subnets.main([ckpt, '--config', CFG, '--subnets', 'bogus', '--debug'])


def test_eval_subnets_keeps_results_when_fine_tuning_fails(short_run, tmp_path, monkeypatch):
    """The optional fine-tuning runs last; when it fails, the frozen-feature results measured
    before are on disk."""
    from dspnet_mm.apis import subnet_evaluation

    def broken(*args, **kwargs):
        raise RuntimeError('fine-tuning crashed')

    monkeypatch.setattr(subnet_evaluation, 'finetune_top1', broken)
    out_dir = tmp_path / 'semi'
    with pytest.raises(RuntimeError, match='fine-tuning crashed'):
        eval_subnets.main([os.path.join(short_run, 'iter_24.pth'), '--config', CFG,
                           '--subnets', 'r18_w025', '--train-subset', '300', '--test-subset',
                           '100', '--semi', '0.1', '--out-dir', str(out_dir), '--cfg-options',
                           f'train_dataloader.dataset.data_prefix={DATA}'])
    with open(out_dir / 'results.json') as f:
        rows = json.load(f)
    assert [r['name'] for r in rows] == ['r18_w025', 'raw pixels']
    assert 10 < rows[0]['knn_top1'] <= 100


def test_eval_subnets_semi_supervised_fine_tuning(short_run, tmp_path):
    out_dir = str(tmp_path / 'semi')
    ckpt = os.path.join(short_run, 'iter_24.pth')
    rc = eval_subnets.main([ckpt, '--config', CFG, '--subnets', 'r18_w025',
                            '--train-subset', '600', '--test-subset', '200',
                            '--linear-epochs', '5', '--semi', '0.1', '--semi-epochs', '15',
                            '--out-dir', out_dir, '--cfg-options',
                            f'train_dataloader.dataset.data_prefix={DATA}'])
    assert rc == 0
    with open(os.path.join(out_dir, 'results.json')) as f:
        row, floor = json.load(f)
    assert floor['method'] == 'floor' and 'semi_0.1_top1' not in floor
    # 60 labelled images, 15 short epochs: above chance (10 %; binomial sd 2.1 on 200 images)
    assert 14 < row['semi_0.1_top1'] <= 100
    with open(os.path.join(out_dir, 'results.md')) as f:
        assert 'semi_0.1_top1' in f.read()
