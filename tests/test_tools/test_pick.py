"""``tools/pick.py`` end to end: the user's path, and every bad input answered with one
``error:`` line, exit status 2 and nothing written."""
import json
import os

import pytest
import torch

from conftest import REPO, load_tool
from deploy_fixtures import SUBNETS, dspnet_checkpoint
from dspnet_mm.apis.slim import subnet_summary

pick_tool = load_tool('pick.py')

QUICK = ['--warmup', '1', '--repeats', '2']


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('pick')
    ckpt, cfg, supernet = dspnet_checkpoint(tmp)
    good = [dict(name=n, method='DSPNet', **subnet_summary(supernet, n), knn_top1=80.0 + i,
                 linear_top1=85.0 - i) for i, n in enumerate(SUBNETS)]
    good.append(dict(name='raw pixels', method='floor', spec=None, flops=0, params=0,
                     knn_top1=70.0, linear_top1=71.0))
    files = dict(good=good,
                 other_names=[dict(good[0], name='r50_w1')] + good[1:],
                 other_flops=[dict(good[0], flops=good[0]['flops'] * 2)] + good[1:],
                 not_rows={'knn_top1': 1})
    paths = {}
    for key, rows in files.items():
        paths[key] = tmp / f'{key}.json'
        paths[key].write_text(json.dumps(rows))
    return ckpt, cfg, paths, tmp


def test_pick_cli_prints_the_table_and_the_choice(tiny, tmp_path, capsys):
    ckpt, cfg, paths, _ = tiny
    out = tmp_path / 'out'
    rc = pick_tool.main([ckpt, '--config', cfg, '--accuracy', str(paths['good']),
                         '--metric', 'knn_top1', '--budget-ms', '100000', '--out-dir',
                         str(out), '--print-config', 'mmdet-fpn', *QUICK])
    printed = capsys.readouterr().out
    assert rc == 0
    assert printed.startswith('timing 4 candidates (r18_w1, r18_w05, r10_w05, r18_w025)')
    assert '| DN | kind |' in printed and 'chosen: r18_w025' in printed  # most accurate
    assert (out / 'r18_w025.pth').is_file() and (out / 'r18_w025_mmdet-fpn.py').is_file()
    channels = torch.load(out / 'r18_w025.pth', weights_only=False)['meta']['stage_channels']
    assert f'in_channels={channels}' in (out / 'r18_w025_mmdet-fpn.py').read_text()
    # a second run does not overwrite the chosen network silently
    rc = pick_tool.main([ckpt, '--config', cfg, '--budget-flops', '1G', '--out-dir', str(out),
                         *QUICK])
    assert rc == 0  # r18_w1 now: another file
    rc = pick_tool.main([ckpt, '--config', cfg, '--budget-flops', '1G', '--out-dir', str(out),
                         *QUICK])
    err = capsys.readouterr().err
    assert rc == 2 and 'r18_w1.pth' in err and 'exists; pass --force' in err


def bad_cases(paths):
    return {  # arguments -> what the one error line must say
        ('--budget-ms', '0'): '--budget-ms 0.0 must be > 0',
        ('--budget-ms', '-5'): '--budget-ms -5.0 must be > 0',
        ('--budget-flops', '0'): '--budget-flops 0.0 must be > 0',
        ('--budget-flops', 'lots'): "--budget-flops 'lots' must be a number of FLOPs",
        ('--budget-ms', '5', '--budget-flops', '1G'): 'give one budget',
        ('--batch-size', '0'): '--batch-size 0 must be an integer >= 1',
        ('--threads', '0'): '--threads 0 must be an integer >= 1',
        ('--device', 'tpu'): "--device 'tpu' is not a device; use 'cpu' or 'cuda[:N]'",
        ('--dtype', 'fp64'): "--dtype 'fp64' must be one of fp32, bf16, fp16",
        ('--runtime', 'tvm'): "--runtime 'tvm' must be one of torch, onnxruntime",
        ('--runtime', 'onnxruntime', '--dtype', 'bf16'): '--dtype bf16 is for --runtime torch',
        ('--input-size', '0'): "--input-size '0' must be H or H,W",
        ('--input-size', '2,3,4'): "--input-size '2,3,4' must be H or H,W",
        ('--grid', '0.5'): "--grid needs a supernet pretrained with sample_space='continuous'",
        ('--grid', '1.5'): '--grid width 1.5 is outside (0, 1]',
        ('--print-config', 'mmcls'): '--print-config and --export-onnx write the chosen',
        ('--budget-ms', '1', '--print-config', 'mmfoo'): "--print-config 'mmfoo' must be one",
        ('--accuracy', str(paths['good']), '--metric', 'top5'):
            "--metric 'top5' is not a column of",
        ('--accuracy', str(paths['good']), '--metric', 'name'):
            "--metric 'name' is not a column of",
        ('--accuracy', str(paths['other_names'])):
            "is from another checkpoint than", 
        ('--accuracy', str(paths['other_flops'])): "'r18_w1' has",
        ('--accuracy', str(paths['not_rows'])): 'is not a results.json of tools/eval_subnets',
        ('--accuracy', '/nowhere.json'): "--accuracy '/nowhere.json' does not exist",
        ('--budget-ms', '0.000001'): 'is below every candidate: the fastest',
    }


def test_bad_inputs_each_one_error_line_and_nothing_written(tiny, tmp_path, capsys):
    ckpt, cfg, paths, _ = tiny
    cases = bad_cases(paths)
    for i, (bad, expected) in enumerate(cases.items()):
        out = tmp_path / f'out{i}'
        rc = pick_tool.main([ckpt, '--config', cfg, *bad, '--out-dir', str(out), *QUICK])
        captured = capsys.readouterr()
        err = captured.err.strip().splitlines()
        assert rc == 2, (bad, captured)
        assert len(err) == 1 and err[0].startswith('error: '), (bad, err)
        assert expected in err[0], (bad, err[0])
        assert 'Traceback' not in captured.out + captured.err
        assert not out.exists(), bad


def test_other_checkpoint_error_names_the_network(tiny, tmp_path, capsys):
    ckpt, cfg, paths, _ = tiny
    assert pick_tool.main([ckpt, '--config', cfg, '--accuracy', str(paths['other_names']),
                           '--out-dir', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert "it has a network 'r50_w1'" in err and 'r18_w05' in err
    assert pick_tool.main([ckpt, '--config', cfg, '--accuracy', str(paths['other_flops']),
                           '--out-dir', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'MFLOPs there' in err and 'here (at 32 px)' in err


def test_cuda_asked_for_on_a_machine_without_it(tiny, tmp_path, capsys, monkeypatch):
    ckpt, cfg, _, _ = tiny
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    rc = pick_tool.main([ckpt, '--config', cfg, '--device', 'cuda:0', '--out-dir',
                         str(tmp_path / 'o')])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == ("error: --device 'cuda:0': this machine has no CUDA "
                                       'GPU; use --device cpu')
    assert not (tmp_path / 'o').exists()


def test_not_a_supernet(tiny, tmp_path, capsys):
    from dspnet_mm.apis import slim
    ckpt, cfg, _, _ = tiny
    slimmed = str(tmp_path / 'r18_w05.pth')
    slim(ckpt, 'r18_w05', slimmed, cfg)
    rc = pick_tool.main([slimmed, '--config', str(tmp_path / 'missing.py'),
                         '--out-dir', str(tmp_path / 'o')])
    assert rc == 2 and "--config" in capsys.readouterr().err
    rc = pick_tool.main([slimmed, '--out-dir', str(tmp_path / 'o'), '--config', cfg])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith('error: ')


def test_pick_latency_benchmark_quick(tmp_path):
    """tools/benchmarks/pick_latency.py --quick: tools/pick.py run as a user runs it, its
    table and its own cost read back."""
    bench = load_tool('benchmarks/pick_latency.py')
    out = tmp_path / 'bench.json'
    result = bench.main(['--quick', '--threads', '1', '--out', str(out)])
    (run, ) = result['runs']
    assert (run['family'], run['batch'], run['runtime'], run['threads']) == (
        'fmnist', 1, 'torch', 1)
    assert [d['name'] for d in run['dns']] == ['r18_w1', 'r18_w075', 'r18_w05', 'r10_w05',
                                               'r18_w025']
    full = run['dns'][0]
    assert full['speedup'] == 1.0 and full['flops_ratio'] == 1.0
    assert all(d['flops_ratio'] > 1 and d['median_ms'] > 0 for d in run['dns'][1:])
    assert run['tool_wall_s'] >= run['tool_seconds']['total'] > 0
    assert json.loads(out.read_text()) == result
    table = bench.main(['--table', str(out)])
    assert '**fmnist, 28 px, batch 1** (1 threads' in table
    assert '| r18_w1 | 1.00x | 1.00x |' in table


def test_written_fmnist_config_builds_and_trains_one_step(tiny, tmp_path, capsys):
    """The CPU user path ends in training: the 'mmcls-fmnist' config written beside the chosen
    network builds mmcls' classifier with exactly its weights and takes a training step."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    ckpt, cfg, _, _ = tiny
    out = tmp_path / 'out'
    assert pick_tool.main([ckpt, '--config', cfg, '--budget-flops', '1G', '--out-dir', str(out),
                           '--print-config', 'mmcls-fmnist', *QUICK]) == 0
    written = torch.load(out / 'r18_w1.pth', weights_only=False)
    config = Config.fromfile(str(out / 'r18_w1_mmcls-fmnist.py'))
    assert config.train_dataloader.dataset.type == 'dspnet_mm.LocalFashionMNIST'
    with DefaultScope.overwrite_default_scope('mmcls'):
        model = MODELS.build(config.model)
    model.init_weights()
    assert all(torch.equal(v, written['state_dict'][k])
               for k, v in model.backbone.state_dict().items())
    assert model.head.fc.in_features == written['meta']['stage_channels'][3]
    from mmcls.structures import ClsDataSample
    data = dict(inputs=[torch.randint(0, 255, (1, 28, 28), dtype=torch.uint8)
                        for _ in range(4)],
                data_samples=[ClsDataSample().set_gt_label(i) for i in range(4)])
    from mmengine.optim import OptimWrapper
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    losses = model.train_step(data, optim)
    assert torch.isfinite(losses['loss'])


@pytest.mark.parametrize('tool', ['pick.py', 'eval_subnets.py'])
def test_malformed_cfg_options_one_error_line(tool, tmp_path):
    """A --cfg-options item without '=' ends with one error line (mmengine's DictAction would
    end in a traceback), before any checkpoint is read."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, os.path.join(REPO, 'tools', tool),
                          str(tmp_path / 'c.pth'), '--config', 'x.py',
                          '--cfg-options', 'train_dataloader.dataset.data_prefix'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: --cfg-options 'train_dataloader.dataset.data_prefix': expected KEY=VALUE"), lines
