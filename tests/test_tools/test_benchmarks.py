"""--quick modes of the speed benchmarks produce well-formed results."""
import json
import math
import os
import subprocess
import sys

import pytest

from conftest import REPO, load_tool

from dspnet_mm.apis.cli import UsageError

fmnist_floor = load_tool('benchmarks/fmnist_floor.py')
slim_overhead = load_tool('benchmarks/slim_overhead.py')
throughput = load_tool('benchmarks/throughput.py')
train_cost = load_tool('benchmarks/train_cost.py')


def _ratio_ok(r):
    return 0 < r['min'] <= r['median'] <= r['max'] and math.isfinite(r['max'])


def test_slim_overhead_quick():
    r = slim_overhead.main(['--quick', '--profile'])
    assert set(r['subnets']) == set(slim_overhead.SUBNETS)
    for name, v in r['subnets'].items():
        assert _ratio_ok(v['eval_ratio']) and _ratio_ok(v['train_ratio'])
        # the profile of one train pass: every conv of the DN (R50: 53, R26: 29) once
        # backward, in the supernet as in the plain network
        convs = 29 if name == 'r26_w05' else 53
        for key, prof in v['train_profile'].items():
            calls = {t['op']: t['calls'] for t in prof['top']}
            assert calls.get('aten::convolution_backward') == convs, (name, key, calls)
            assert 0 < prof['host_ms'] <= 1.2 * prof['wall_ms']
    assert r['machine']['threads'] >= 1
    assert r['machine']['device'] == 'cpu' and r['amp'] is False


def test_interleaved_times_the_call_not_its_setup():
    import time

    from dspnet_mm.apis.benchmark import interleaved
    calls = []
    times = interleaved(dict(a=lambda: calls.append('a'), b=lambda: time.sleep(0.02)),
                        repeats=3, warmup=1,
                        setup=dict(a=lambda: (calls.append('setup'), time.sleep(0.02))))
    # the setup runs before every call of its callable (warm-up included), untimed
    assert calls == ['setup', 'a'] * 4
    assert len(times['a']) == len(times['b']) == 3
    assert max(times['a']) < 0.01 <= min(times['b'])


def test_profiled_counts_the_calls_of_fn_not_its_setup():
    import time

    import torch

    from dspnet_mm.apis.benchmark import profiled
    a = torch.randn(64, 64)

    def fn():
        for _ in range(3):
            a.mm(a)
        time.sleep(0.03)  # Python time: in the wall time, in no operator

    r = profiled(fn, torch.device('cpu'), repeats=2,
                 setup=lambda: torch.zeros(512, 512).add_(1))
    calls = {t['op']: t['calls'] for t in r['top']}
    assert calls['aten::mm'] == 3.0
    assert 'aten::zeros' not in calls and 'aten::add_' not in calls
    assert 'device_ms' not in r  # no kernels on a CPU
    assert r['wall_ms'] >= 30 and 0 < r['host_ms'] < r['wall_ms'] - 20
    top = [t['self_ms'] for t in r['top']]
    assert top == sorted(top, reverse=True)


def test_train_cost_quick():
    r = train_cost.main(['--quick'])
    assert set(r['dn_sets']) == {4, 5, 8}  # 5: the config's own DNs (the seeds study's)
    assert r['dn_sets'][5]['sampled_per_iteration'] == ['r18_w1', 'r10_w05', 'r18_w075',
                                                        'r18_w05']
    for num_dns, v in r['dn_sets'].items():
        assert len(v['sampled_per_iteration']) == 4
        assert _ratio_ok(v['dspnet_over_one_by_one']) and _ratio_ok(v['dspnet_over_ideal'])
        # launch overhead (ATen operators, kernels on a GPU) of a DSPNet step: a ceiling at
        # the ideal (the same sampled DNs as plain networks + one target forward); DSPNet shares
        # one optimizer over one set of parameters, so it dispatches fewer operators
        ops = v['aten_ops']
        assert ops['dspnet'] > 1000 and ops['ideal'] > 1000
        assert ops['ratio'] == round(ops['dspnet'] / ops['ideal'], 3) <= 1.0, ops
        # and its host work (Python calls): switching DNs and the EMA update used to walk
        # every module (a BN per DN in every layer), 1.2-1.6x the ideal's calls. Now at most
        # the ideal's with up to 5 DNs; with 8 the one optimizer still loops over the private
        # BN parameters of the 4 DNs not sampled (1.19)
        calls = ops['python_calls']
        assert calls['ratio'] == round(calls['dspnet'] / calls['ideal'], 3), calls
        assert calls['ratio'] <= (1.0 if num_dns <= 5 else 1.25), (num_dns, calls)


def test_throughput_quick():
    r = throughput.main(['--quick'])
    assert {'DSPNet', 'BYOL', 'VICRegGating', 'VICRegDualGating'} == set(r['images_per_s'])
    assert all(v['fp32'] > 0 for v in r['images_per_s'].values())
    assert 'speedup_over_fp32' not in r  # one precision: nothing to compare


def test_step_benchmarks_compare_precisions():
    """fp32, bf16 and bf16 + channels-last side by side: every algorithm in each, the
    speed-up per round over fp32; bad --precisions get one clear error."""
    import pytest

    from dspnet_mm.apis.cli import UsageError
    from dspnet_mm.engine.optimizers.cpu_amp import cpu_bf16_features
    with pytest.raises(UsageError, match="--precisions: 'fp16' is not one of fp32, bf16"):
        throughput.main(['--quick', '--precisions', 'fp32,fp16'])
    with pytest.raises(UsageError, match='names one precision twice'):
        throughput.main(['--quick', '--precisions', 'fp32,fp32'])
    if not cpu_bf16_features():
        with pytest.raises(UsageError, match='no bf16 instructions'):
            throughput.main(['--quick', '--precisions', 'fp32,bf16'])
        return
    r = throughput.main(['--quick', '--precisions', 'fp32,bf16_cl', '--repeats', '1'])
    assert r['precisions'] == ['fp32', 'bf16_cl']
    for name, ms in r['step_ms'].items():
        assert set(ms) == {'fp32', 'bf16_cl'} and min(ms.values()) > 0
        assert _ratio_ok(r['speedup_over_fp32'][name]['bf16_cl'])
    # each model trains in the precision asked for (the wrapper is what autocasts)
    import torch

    from dspnet_mm.apis.benchmark import build_model
    path = os.path.join(REPO, 'configs', 'byol_r18_fmnist.py')
    assert type(build_model(path, precision='fp32')[1]).__name__ == 'OptimWrapper'
    for precision, cl in (('bf16', False), ('bf16_cl', True)):
        optim = build_model(path, precision=precision)[1]
        assert optim.cast_dtype is torch.bfloat16 and optim.channels_last is cl


def test_fmnist_dspnet_parts_and_merge(tmp_path):
    """The seeds study in resumable parts: every part of seed 0, then one part of seed 1, then
    a merge that averages what is there and lists what is missing."""
    fmnist_dspnet = load_tool('benchmarks/fmnist_dspnet.py')
    dirs = ['--out-dir', str(tmp_path / 'out'), '--parts-dir', str(tmp_path / 'parts'),
            '--work-dir', str(tmp_path / 'work')]
    r = fmnist_dspnet.main(['--quick', *dirs])
    assert [row['dn'] for row in r['table']] == ['r18_w1', 'r18_w025']
    assert r['missing'] == [] and r['seeds'] == [0]
    assert all(row['beyond_noise_knn_top1'] is None for row in r['table'])  # one seed
    for row in r['table']:
        for k in ('dspnet_knn_top1', 'alone_knn_top1', 'dspnet_linear_top1',
                  'alone_linear_top1'):
            assert row[k]['n'] == 1 and 0 <= row[k]['mean'] <= 100
        assert row['diff_knn_top1'] == round(row['dspnet_knn_top1']['mean'] -
                                             row['alone_knn_top1']['mean'], 2)
        assert row['dspnet_knn_top1_minus_floor_min'] == round(
            row['dspnet_knn_top1']['mean'] - r['floor']['knn_top1'], 2)
    w = r['wall_seconds']['0']
    parts = sorted((tmp_path / 'parts' / 'quality').glob('seed0_*.json'))
    assert [p.name for p in parts] == ['seed0_byol_r18_w025.json', 'seed0_byol_r18_w1.json',
                                       'seed0_dspnet.json']
    assert w['ratio'] == round(w['dspnet'] / w['one_by_one_total'], 3)
    assert w['devices'] == ['cpu']
    for ext in ('json', 'md', 'png'):
        assert (tmp_path / 'out' / f'fmnist_dspnet_quality.{ext}').stat().st_size > 100

    fmnist_dspnet.main(['--quick', '--part', 'dspnet', '--seed', '1', *dirs])
    m = fmnist_dspnet.main(['--quick', '--merge', *dirs])
    assert m['seeds'] == [0, 1]
    assert m['missing'] == ['seed 1 byol:r18_w1', 'seed 1 byol:r18_w025']
    assert set(m['wall_seconds']) == {'0'}  # seed 1 has no one-by-one total yet
    assert m['wall_pooled'] is None  # pooled only over two or more complete seeds
    row = m['table'][0]
    knn = row['dspnet_knn_top1']
    assert knn['n'] == 2 and row['alone_knn_top1']['n'] == 1
    assert knn['mean'] == round(sum(knn['values']) / 2, 2)
    assert knn['spread'] == round(max(knn['values']) - min(knn['values']), 2)
    md = (tmp_path / 'out' / 'fmnist_dspnet_quality.md').read_text()
    assert '± ' in md and 'so far: parts are missing' in md
    # noise known on one side (DSPNet, 2 seeds): each diff is judged against that spread
    assert row['noise_knn_top1'] == knn['spread']
    assert row['beyond_noise_knn_top1'] == (abs(row['diff_knn_top1']) > knn['spread'])
    assert f"{row['dn']}: DSPNet minus one-by-one k-NN {row['diff_knn_top1']:+.2f}" in md

    # seed 1 complete (its one-by-one parts copied from seed 0 with other seconds): each seed
    # has its ratio, and the pooled ratio sums the seconds of both
    for name in ('byol_r18_w1', 'byol_r18_w025'):
        part = json.loads((tmp_path / 'parts' / 'quality' / f'seed0_{name}.json').read_text())
        part.update(seed=1, train_seconds=part['train_seconds'] * 3)
        (tmp_path / 'parts' / 'quality' / f'seed1_{name}.json').write_text(json.dumps(part))
    m = fmnist_dspnet.main(['--quick', '--merge', *dirs])
    w0, w1, pooled = m['wall_seconds']['0'], m['wall_seconds']['1'], m['wall_pooled']
    assert w1['one_by_one_total'] == round(w0['one_by_one_total'] * 3, 1)
    assert pooled['seeds'] == ['0', '1'] and pooled['ratio'] == round(
        (w0['dspnet'] + w1['dspnet']) / (w0['one_by_one_total'] + w1['one_by_one_total']), 3)
    assert m['met']['time'] == (max(w0['ratio'], w1['ratio']) <= 0.6)  # judged per seed
    assert 'seeds 0, 1 pooled' in (tmp_path / 'out' / 'fmnist_dspnet_quality.md').read_text()

    with pytest.raises(UsageError, match="'byol:r18_w05' is not a part"):
        fmnist_dspnet.main(['--quick', '--part', 'byol:r18_w05', *dirs])

    # --recheck: a finished part's checkpoint evaluated again gives its JSON's numbers; a
    # tampered JSON does not reproduce
    rows = fmnist_dspnet.main(['--quick', '--recheck', '--part', 'byol:r18_w025', *dirs])
    assert rows[0]['name'] == 'r18_w025'
    path = tmp_path / 'parts' / 'quality' / 'seed0_byol_r18_w025.json'
    done = json.loads(path.read_text())
    assert rows[0]['knn_top1'] == done['rows'][0]['knn_top1']
    done['rows'][0]['knn_top1'] += 0.5
    path.write_text(json.dumps(done))
    with pytest.raises(SystemExit, match='does not reproduce'):
        fmnist_dspnet.main(['--quick', '--recheck', '--part', 'byol:r18_w025', *dirs])
    with pytest.raises(UsageError, match='--recheck needs --part'):
        fmnist_dspnet.main(['--quick', '--recheck', *dirs])

    # --time: every part trains in turn, the order rotated each round; the ratio is DSPNet's
    # seconds per iteration over the sum of the one-by-one parts', and the merge reports it
    t = fmnist_dspnet.main(['--quick', '--time', '--rounds', '2', '--iters', '2', '--skip', '1',
                            *dirs])
    assert [r['order'] for r in t['rounds']] == [
        ['dspnet', 'byol:r18_w1', 'byol:r18_w025'], ['byol:r18_w1', 'byol:r18_w025', 'dspnet']]
    for r in t['rounds']:
        s = r['seconds_per_iter']
        assert min(s.values()) > 0
        assert r['ratio'] == round(s['dspnet'] / (s['byol:r18_w1'] + s['byol:r18_w025']), 4)
    assert t['ratio']['min'] <= t['ratio']['median'] <= t['ratio']['max']
    from mmengine import Config
    iters = Config.fromfile(os.path.join(REPO, 'configs', 'dspnet_r18_fmnist_quality.py')
                            ).train_cfg.max_iters
    assert t['schedule_iters'] == iters == 9600
    per_iter = [r['seconds_per_iter']['dspnet'] for r in t['rounds']]  # median of 2: mean
    assert t['projected_seconds']['dspnet'] == pytest.approx(iters * sum(per_iter) / 2,
                                                             abs=0.06)
    assert not (tmp_path / 'work' / 'quality' / 'timing' / 'dspnet').exists()  # cleaned up
    # the FLOPs bound by hand: DSPNet trains r18_w1 and the smallest (r10_w05) and 2 of the 3
    # others against one full-width target; each BYOL part trains its DN against its own
    from dspnet_mm.apis.benchmark import build_model
    from dspnet_mm.apis.slim import subnet_summary
    supernet = build_model(os.path.join(REPO, 'configs', 'dspnet_r18_fmnist_quality.py'))[0]
    f = {n: subnet_summary(supernet.backbone, n)['flops'] for n in supernet.backbone.subnets}
    dspnet = f['r18_w1'] + 3 * (f['r18_w1'] + f['r10_w05'] + 2 / 3 * (
        f['r18_w075'] + f['r18_w05'] + f['r18_w025']))
    assert t['flops_bound'] == round(dspnet / (4 * sum(f.values())), 3)
    m = fmnist_dspnet.main(['--quick', '--merge', *dirs])
    assert m['wall_interleaved']['ratio'] == t['ratio']
    assert m['met']['time_interleaved'] == (t['ratio']['max'] <= 0.6)
    assert (f"DSPNet / one-by-one total {t['ratio']['median']:.3f}"
            in (tmp_path / 'out' / 'fmnist_dspnet_quality.md').read_text())
    with pytest.raises(UsageError, match='--iters 0 must be a positive'):
        fmnist_dspnet.main(['--quick', '--time', '--iters', '0', *dirs])


def test_iteration_seconds_reads_every_window(tmp_path):
    """Seconds per iteration from mmengine's scalars: the windows after the warm-up, all of
    them, or an error."""
    fmnist_dspnet = load_tool('benchmarks/fmnist_dspnet.py')
    log = tmp_path / '20261127_000000' / 'vis_data'
    log.mkdir(parents=True)
    rows = [dict(iter=i, time=i / 100, loss=1.0) for i in range(10, 70, 10)]
    (log / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    # windows ending at 30, 40, 50: iterations 21..50
    assert fmnist_dspnet.iteration_seconds(tmp_path, 20, 30) == pytest.approx(0.4)
    assert fmnist_dspnet.iteration_seconds(tmp_path, 0, 60) == pytest.approx(0.35)
    with pytest.raises(RuntimeError, match='21..80 are not all logged'):
        fmnist_dspnet.iteration_seconds(tmp_path, 20, 60)
    rows.pop(3)  # the window ending at 40 is missing
    (log / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows))
    with pytest.raises(RuntimeError, match='not all logged'):
        fmnist_dspnet.iteration_seconds(tmp_path, 20, 30)


def test_fmnist_gating_quick(tmp_path):
    fmnist_gating = load_tool('benchmarks/fmnist_gating.py')
    r = fmnist_gating.main(['--quick', '--out-dir', str(tmp_path / 'out'),
                            '--work-dir', str(tmp_path / 'work')])
    assert [(row['method'], row['t_d']) for row in r['rows']] == [
        ('vicreg', None), ('vicreg-gating', 0.3), ('vicreg-dual-gating', 0.3)]
    vicreg, gating, dual = r['rows']
    assert set(vicreg) >= {'dense'} and 'gated' not in vicreg
    assert 'dense' not in gating and {'dense', 'gated'} <= set(dual)
    for row in r['rows']:
        for branch in ('dense', 'gated'):
            if branch not in row:
                continue
            acc = row[branch]
            for key in ('knn', 'linear', 'linear_train'):
                assert 0 <= acc[key] <= 100
            # the floor (raw pixels, same protocol) is subtracted from each branch
            assert acc['minus_floor'] == {m: round(acc[m] - r['floor'][m], 2)
                                          for m in ('knn', 'linear')}
    assert 50 < r['floor']['knn'] <= 100 and 50 < r['floor']['linear'] <= 100
    assert r['probe'] == 'lbfgs' and r['above_floor']['min_margin'] == min(
        row[b]['minus_floor'][m] for row in r['rows'] for b in ('dense', 'gated') if b in row
        for m in ('knn', 'linear'))
    for row in (gating, dual):
        assert 0 < row['flops_kept'] <= 1.01
        assert abs(row['flops_reduction'] - (1 - row['flops_kept'])) < 1e-9
        assert len(row['density']) == 8 and all(0 <= d <= 1 for d in row['density'].values())
    (t, ) = r['targets']
    assert t['gated_linear_minus_baseline'] == round(
        dual['gated']['linear'] - gating['gated']['linear'], 2)
    assert r['test_images'] == 200
    for name in ('fmnist_gating.json', 'fmnist_gating.md', 'fmnist_gating_density.png'):
        assert (tmp_path / 'out' / name).stat().st_size > 100
    assert '**raw pixels (floor)**' in (tmp_path / 'out' / 'fmnist_gating.md').read_text()
    # --reuse evaluates the same checkpoints again without training
    ckpt = tmp_path / 'work' / 'vicreg' / 'iter_3.pth'
    before = ckpt.stat().st_mtime_ns
    again = fmnist_gating.main(['--quick', '--reuse', '--out-dir', str(tmp_path / 'out'),
                                '--work-dir', str(tmp_path / 'work')])
    assert ckpt.stat().st_mtime_ns == before
    assert [row['train_seconds'] for row in again['rows']] == [
        row['train_seconds'] for row in r['rows']]
    assert again['rows'][0]['dense']['knn'] == vicreg['dense']['knn']


def test_gated_inference_quick():
    gated_inference = load_tool('benchmarks/gated_inference.py')
    r = gated_inference.main(['--quick', '--densities', '0.3', '1.0'])
    assert [(row['batch'], row['density']) for row in r['rows']] == [
        (1, 0.3), (1, 1.0), (4, 0.3), (4, 1.0)]
    for row in r['rows']:
        # the gates keep the asked fraction of the gated convs; the stem, the downsample convs
        # and the gates themselves are always computed
        assert row['density'] <= row['flops_kept'] <= row['density'] + 0.1, row
        assert abs(row['flops_ratio'] - 1 / row['flops_kept']) < 0.01
        assert _ratio_ok(row['fast_speedup_over_dense'])
        assert row['dense_ms'] > 0 and row['masked_ms'] > 0 and row['fast_ms'] > 0
        ops = row['aten_ops']
        # the dense network never waits for the host; the masked path adds the gates and the
        # mask products; the fast path reads masks on the host (nonzero/unique) per block
        assert ops['dense']['host_syncs'] == 0 and ops['masked']['host_syncs'] == 0
        assert ops['masked']['ops'] > ops['dense']['ops']
        assert ops['fast']['host_syncs'] >= 8  # at least one per gated block
        # static capacities: the kept channels rounded up to 8 (None: no channel to save),
        # the same numbers, and one host synchronisation per forward whatever the depth
        channels = [64, 64, 128, 128, 256, 256, 512, 512]  # ResNet-18, base width 64
        if row['density'] < 1:
            assert row['capacities'] == [8 * -(-round(0.3 * c) // 8) for c in channels]
            assert ops['capped']['host_syncs'] == 1
        else:
            assert row['capacities'] == [None] * 8
        assert row['max_abs_diff_from_eager']['capped'] < 1e-4
        assert row['capped_ms'] > 0 and _ratio_ok(row['capped_speedup_over_dense'])
        assert row['best_gated']['path'] in ('masked', 'fast', 'capped')
    assert r['machine']['device'] == 'cpu' and r['amp'] is False
    assert set(r['target_met_by_batch']) == {'1', '4'}
    assert r['gated_target_met'] is None  # no batch 64 in --quick


def test_fmnist_recipe_sweep_quick(tmp_path):
    fmnist_recipe_sweep = load_tool('benchmarks/fmnist_recipe_sweep.py')
    r = fmnist_recipe_sweep.main(['--quick', '--work-dir', str(tmp_path),
                                  '--variants', 's1_b64,s2_b128'])
    assert list(r['variants']) == ['s1_b64', 's2_b128']
    assert r['train_images'] == 500 and r['test_images'] == 200
    for v in r['variants'].values():
        assert set(v['knn']) == {'r18_w1', 'r18_w075', 'r18_w05', 'r10_w05', 'r18_w025',
                                 'raw pixels'}
        for acc in list(v['knn'].values()) + list(v['linear'].values()):
            assert 10 < acc <= 100  # 10 classes: chance is 10%
        assert v['min_margin_knn'] == round(min(
            a - v['knn']['raw pixels'] for n, a in v['knn'].items() if n != 'raw pixels'), 2)
    assert 'model.backbone.strides=(2,2,2,2)' in r['variants']['s2_b128']['options']
    with pytest.raises(UsageError, match='unknown variants'):
        fmnist_recipe_sweep.main(['--quick', '--variants', 'nope'])


def test_fmnist_recipe_sweep_options_reach_the_dataset_pipeline():
    """A variant's options change what runs: the dataset's pipeline, not the config's
    ``train_pipeline`` variable (a copy once the file is read)."""
    from mmengine.config import Config, DictAction
    sweep = load_tool('benchmarks/fmnist_recipe_sweep.py')

    def merged(*names):  # as tools/train.py --cfg-options applies them
        cfg = Config.fromfile(sweep.CFG)
        cfg.merge_from_dict({k: DictAction._parse_iterable(v) for name in names
                             for k, v in (o.split('=', 1) for o in sweep.VARIANTS[name])})
        return cfg

    for name, options in sweep.VARIANTS.items():
        assert not [o for o in options if o.startswith('train_pipeline')], name
        merged(name)
    views = merged('s1_b64_crop0.5', 's1_b64_noblur').train_dataloader.dataset.pipeline[0]
    assert [v[0].scale for v in views.transforms] == [(0.5, 1.0), (0.5, 1.0)]
    assert [t.prob for t in views.transforms[0][3:] + views.transforms[1][3:5]] == [0, 0, 0]
    assert merged('s1_b64').train_dataloader.dataset.pipeline[0].transforms[0][3].prob == 0.5


def test_fmnist_floor_quick():
    r = fmnist_floor.main(['--quick'])
    assert (r['train_images'], r['test_images']) == (2000, 500)
    # raw pixels of Fashion-MNIST are a strong baseline: far above chance (10 %)
    for key in ('knn_top1', 'linear_sgd100_top1', 'linear_lbfgs_top1'):
        assert 60 < r[key] < 100, key
    assert r['linear_lbfgs_train_top1'] >= r['linear_lbfgs_top1'] - 2


def test_timing_benchmarks_take_a_device(capsys):
    """--device is checked before any work, with one clear error; the JSON records it."""
    import pytest
    import torch

    from dspnet_mm.apis.cli import UsageError
    for tool in (slim_overhead, train_cost, throughput):
        with pytest.raises(UsageError, match="--device 'meta': only 'cpu' and 'cuda'"):
            tool.main(['--quick', '--device', 'meta'])
        with pytest.raises(UsageError, match="--device 'gpu0' is not a device"):
            tool.main(['--quick', '--device', 'gpu0'])
        with pytest.raises(UsageError, match='--repeats 0 must be > 0'):
            tool.main(['--quick', '--repeats', '0'])
        if not torch.cuda.is_available():
            with pytest.raises(UsageError, match='no CUDA GPU; use --device cpu'):
                tool.main(['--quick', '--device', 'cuda'])
    from dspnet_mm.engine.optimizers.cpu_amp import cpu_bf16_features
    if cpu_bf16_features():
        r = throughput.main(['--quick', '--amp', '--repeats', '1'])
        assert r['amp'] is True and r['machine']['device'] == 'cpu'
        assert r['precisions'] == ['bf16']
        assert all(v['bf16'] > 0 for v in r['images_per_s'].values())


def test_ema_update_quick():
    ema_update = load_tool('benchmarks/ema_update.py')
    r = ema_update.main(['--quick'])
    # the Fashion-MNIST DSPNet: 209 parameters + 279 buffers, of which the target runs 128
    assert r['tensors'] == dict(cosine_ema=488, target_cosine_ema=128)
    assert _ratio_ok(r['cosine_ema_over_target']) and r['machine']['device'] == 'cpu'


def test_train_counts_every_run_of_a_resumed_work_dir(tmp_path, monkeypatch):
    """A part killed mid-run and resumed reports the seconds of both runs: the killed one up
    to its last checkpoint (the iterations after it run, and count, again)."""
    import subprocess
    import time

    from dspnet_mm.apis import benchmark
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        ckpt = tmp_path / f'iter_{len(calls)}.pth'
        ckpt.write_text('weights')
        (tmp_path / 'last_checkpoint').write_text(str(ckpt))
        if len(calls) == 1:  # the first run saves a checkpoint 100 s in, then dies
            os.utime(ckpt, (time.time() + 100, ) * 2)
            return subprocess.CompletedProcess(cmd, -9, '', 'Killed')
        return subprocess.CompletedProcess(cmd, 0, '', '')

    monkeypatch.setattr(benchmark.subprocess, 'run', fake_run)
    with pytest.raises(RuntimeError, match='training failed'):
        benchmark.train('cfg.py', str(tmp_path), [], resume=True)
    seconds, ckpt = benchmark.train('cfg.py', str(tmp_path), [], resume=True)
    assert '--resume' in calls[1] and ckpt.endswith('iter_2.pth')
    assert 99 < seconds < 102
    first, second = benchmark.train_segments(str(tmp_path))
    assert first['interrupted'] and 99 < first['seconds'] < 101
    assert seconds == first['seconds'] + second['seconds']
    # without resume the work dir starts afresh: nothing earlier is counted
    seconds, _ = benchmark.train('cfg.py', str(tmp_path), [], resume=False)
    assert '--resume' not in calls[2] and seconds < 2
    assert len(benchmark.train_segments(str(tmp_path))) == 1


def test_fmnist_iter_time_reads_iterations_after_skip(tmp_path):
    """The end-to-end benchmark averages the logged iteration times after --skip, from the
    newest run's scalars, and refuses a log with none."""
    tool = load_tool('benchmarks/fmnist_iter_time.py')
    old = tmp_path / '20261206_000000' / 'vis_data'
    new = tmp_path / '20261206_010000' / 'vis_data'
    for d, times in ((old, [9.0, 9.0, 9.0]), (new, [5.0, 1.0, 2.0])):
        d.mkdir(parents=True)
        (d / 'scalars.json').write_text(''.join(
            json.dumps(dict(iter=10 * (i + 1), time=t, loss=0.0)) + '\n'
            for i, t in enumerate(times)))
    assert tool.iteration_seconds(str(tmp_path), skip=10) == 1.5  # iters 20 and 30, newest run
    assert tool.iteration_seconds(str(tmp_path), skip=0) == pytest.approx(8 / 3)
    with pytest.raises(RuntimeError, match='no iteration times after iteration 30'):
        tool.iteration_seconds(str(tmp_path), skip=30)
    with pytest.raises(UsageError, match='--iters 25 must exceed --skip 20'):
        tool.main(['--iters', '25'])


def test_conv_shapes_quick():
    """Every convolution of the dual-gating step, each timed alone in the three precisions;
    the shapes are the network's (stem on the 28x28 view, stride-2 stages down to 2x2, the
    gates' 1x1 convs on pooled 1x1 maps) and the step totals add up."""
    from dspnet_mm.engine.optimizers.cpu_amp import cpu_bf16_features
    conv_shapes = load_tool('benchmarks/conv_shapes.py')
    config = os.path.join(REPO, 'configs', 'vicreg-dual-gating_r18_fmnist.py')
    with pytest.raises(UsageError, match=r'--fp32-below 0 must be > 0'):
        conv_shapes.main([config, '--quick', '--fp32-below', '0'])
    with pytest.raises(UsageError, match=r'nope.py: no such config file'):
        conv_shapes.main(['nope.py', '--quick'])
    if not cpu_bf16_features():
        with pytest.raises(UsageError, match='no bf16 instructions'):
            conv_shapes.main([config, '--quick'])
        return
    r = conv_shapes.main([config, '--quick'])
    shapes = r['convolutions']
    assert shapes[0]['input'] == [1, 28, 28] and shapes[0]['in_channels'] == 1  # the stem
    for s in shapes:
        (k, _), (st, _), (p, _) = s['kernel'], s['stride'], s['padding']
        assert s['output'][1] == (s['input'][1] + 2 * p - k) // st + 1, s
        assert s['output'][0] == s['out_channels'] and s['input'][0] == s['in_channels']
        assert s['calls'] >= 1 and min(s['ms'].values()) > 0
        assert all(_ratio_ok(v) for v in s['speedup_over_fp32'].values())
    maps = {s['input'][1] for s in shapes}
    assert {28, 14, 7, 4, 2, 1} <= maps
    for mode, total in r['conv_ms_per_step'].items():
        assert total == pytest.approx(sum(s['calls'] * s['ms'][mode] for s in shapes), abs=0.01)
    assert set(r['step_ms']) == {'fp32', 'bf16_cl', 'bf16_cl_fp32_below_4'}
    assert all(_ratio_ok(v) for v in r['step_speedup_over_fp32'].values())


def test_fp32_small_maps_runs_small_convs_in_fp32():
    """Under bf16 autocast, a convolution on a map of at most N pixels computes exactly what
    fp32 computes (output and weight gradient), in fp32; on a larger map it stays bf16.
    Without autocast nothing changes; the state dict keeps its keys."""
    import torch
    import torch.nn as nn
    conv_shapes = load_tool('benchmarks/conv_shapes.py')
    torch.manual_seed(0)
    ref = nn.Conv2d(8, 4, 3, padding=1, bias=False)
    conv = nn.Conv2d(8, 4, 3, padding=1, bias=False).to(memory_format=torch.channels_last)
    conv.load_state_dict(ref.state_dict())
    keys = list(conv.state_dict())
    net = conv_shapes.fp32_small_maps(nn.Sequential(conv), max_pixels=4)
    assert list(net[0].state_dict()) == keys
    small, large = torch.randn(2, 8, 2, 2), torch.randn(2, 8, 4, 4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out_small, out_large = net(small), net(large)
    assert out_small.dtype == torch.float32 and out_large.dtype == torch.bfloat16
    expected = ref(small)
    assert torch.equal(out_small, expected)
    out_small.sum().backward()
    expected.sum().backward()
    assert torch.allclose(conv.weight.grad, ref.weight.grad, rtol=1e-6, atol=1e-6)
    # no autocast: the plain fp32 convolution (in the channels-last layout)
    assert net(large).dtype == torch.float32
    assert torch.allclose(net(large), ref(large), rtol=1e-5, atol=1e-5)


def test_fp32_small_maps_keeps_a_slimmable_convs_slicing():
    """A slimmable conv (a subclass with its own forward) still runs its active slice of the
    weight on a small map, in fp32; on a larger map in bf16."""
    import torch

    from dspnet_mm.models.slimmable.slimmable_ops import SlimmableConv2d
    conv_shapes = load_tool('benchmarks/conv_shapes.py')
    torch.manual_seed(0)
    conv = SlimmableConv2d(16, 16, 3, padding=1, bias=False)
    conv.active_out_channels = 8
    x = torch.randn(2, 8, 2, 2)
    expected = conv(x)  # fp32, no autocast: the slice weight[:8, :8]
    conv_shapes.fp32_small_maps(conv, max_pixels=4)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out, out_large = conv(x), conv(torch.randn(2, 8, 4, 4))
    assert out.shape == (2, 8, 2, 2) and out.dtype == torch.float32
    assert torch.equal(out, expected)
    assert out_large.shape == (2, 8, 4, 4) and out_large.dtype == torch.bfloat16


def test_gpu_session_plumbing_on_the_cpu(tmp_path):
    """tools/benchmarks/gpu_session.sh with DEVICE=cpu: the users' command (train.py --amp,
    then dist_train.sh ... 1) on a generated JPEG folder and the gated-inference paths, as the
    GPU session will run them, tiny; every step writes its JSON and logs its time."""
    out = tmp_path / 'out'
    env = dict(os.environ, DEVICE='cpu', PY=sys.executable,
               STEPS='real_command gated_inference')  # fmnist --time --quick: tested apart
    p = subprocess.run(['bash', os.path.join(REPO, 'tools', 'benchmarks', 'gpu_session.sh'),
                        str(out)], capture_output=True, text=True, timeout=600, cwd=REPO,
                       env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    log = (out / 'log.txt').read_text()
    for name in ('real_command_cpu', 'gated_inference_cpu', 'gated_inference_cpu_bf16'):
        assert f'{name}.json: ok in' in log, log[-3000:]
    assert 'fmnist_time' not in log and 'gpu_session: done' in log
    real = json.loads((out / 'real_command_cpu.json').read_text())
    assert real['ok'] and real['quick'] and real['config'] == 'configs/dspnet_r50.py'
    for name, r in real['runs'].items():
        assert r['returncode'] == 0 and r['iterations'] == 2 and r['complete'], (name, r)
        assert r['images_per_s'] == pytest.approx(2 / r['median_s_per_iter'], abs=0.01)
        assert r['peak_memory_mb'] is None  # mmengine logs memory on CUDA only
    assert '--amp' in real['runs']['train']['command']
    assert 'dist_train.sh configs/dspnet_r50.py 1' in real['runs']['dist_train_1']['command']
    bf16 = json.loads((out / 'gated_inference_cpu_bf16.json').read_text())
    assert bf16['amp'] is True and bf16['rows'][0]['capacities']
