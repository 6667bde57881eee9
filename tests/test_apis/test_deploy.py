"""Choosing the network for a device (``dspnet_mm.apis.deploy``): the choice and the Pareto
front on synthetic tables, the timing harness on scripted clocks, and the candidates of real
(tiny) DSPNet, gating and continuous checkpoints with their written outputs."""
import json
import os
import statistics
import time

import pytest
import torch

from deploy_fixtures import dspnet_checkpoint, gating_checkpoint
from dspnet_mm.apis import load_checkpoint_safely, slim
from dspnet_mm.apis.cli import UsageError
from dspnet_mm.apis.deploy import (PickSettings, choose, latency_stats, pareto_front, pick,
                                   time_interleaved)
from dspnet_mm.apis.slim import subnet_summary


def rows(*specs):
    """Synthetic candidate rows: (name, median ms, FLOPs, accuracy or None)."""
    return [dict(name=n, median_ms=ms, flops=fl, accuracy=acc) for n, ms, fl, acc in specs]


TABLE = rows(('big', 10.0, 400, 90.0), ('mid', 6.0, 200, 88.0), ('deep_narrow', 6.0, 150, 89.0),
             ('small', 2.0, 50, 80.0))


# ------------------------------------------------------------------------------ the choice
def test_budget_boundary_is_inclusive_and_exclusive_just_below():
    assert choose(TABLE, budget_ms=10.0, quality='accuracy')['name'] == 'big'
    assert choose(TABLE, budget_ms=9.999, quality='accuracy')['name'] == 'deep_narrow'
    assert choose(TABLE, budget_ms=5.999, quality='accuracy')['name'] == 'small'
    assert choose(TABLE, budget_flops=400, quality='accuracy')['name'] == 'big'
    assert choose(TABLE, budget_flops=399, quality='accuracy')['name'] == 'deep_narrow'


def test_ties_go_to_the_faster_then_the_first():
    table = rows(('a', 5.0, 100, 88.0), ('b', 4.0, 100, 88.0), ('c', 4.0, 90, 88.0))
    assert choose(table, budget_ms=100, quality='accuracy')['name'] == 'b'  # faster, first
    table = rows(('a', 5.0, 100, None), ('b', 4.0, 100, None))
    assert choose(table, budget_ms=100, quality='flops')['name'] == 'b'  # equal FLOPs: faster


def test_without_accuracy_the_most_flops_within_budget():
    table = rows(*[(n, ms, fl, None) for n, ms, fl, _ in (
        ('big', 10.0, 400, 0), ('mid', 6.0, 200, 0), ('deep_narrow', 5.5, 150, 0),
        ('small', 2.0, 50, 0))])
    assert choose(table, budget_ms=7, quality='flops')['name'] == 'mid'
    assert choose(table, budget_ms=5.9, quality='flops')['name'] == 'deep_narrow'


def test_candidates_without_accuracy_are_not_chosen():
    table = TABLE + rows(('w0.9', 1.0, 300, None))
    assert choose(table, budget_ms=3, quality='accuracy')['name'] == 'small'
    with pytest.raises(UsageError, match="no candidate within the budget has an accuracy in the --accuracy file "
                       r"\(within it: w0.9\)"):
        choose(table, budget_ms=1.5, quality='accuracy')


def test_nothing_fits_names_the_fastest():
    with pytest.raises(UsageError) as e:
        choose(TABLE, budget_ms=1.5, quality='accuracy', where=' of 1 on cpu')
    assert "the fastest, 'small', takes 2.000 ms per batch of 1 on cpu" in str(e.value)
    with pytest.raises(UsageError, match="the smallest, 'small', has 50 FLOPs"):
        choose(TABLE, budget_flops=49, quality='accuracy')


def test_pareto_front():
    assert pareto_front(TABLE, 'accuracy') == ['big', 'deep_narrow', 'small']  # mid: beaten
    # equally fast and more accurate beats; faster and equally accurate beats
    assert pareto_front(rows(('a', 5.0, 0, 80.0), ('b', 5.0, 0, 81.0)), 'accuracy') == ['b']
    assert pareto_front(rows(('a', 5.0, 0, 80.0), ('b', 4.0, 0, 80.0)), 'accuracy') == ['b']
    # identical on both: neither beats the other
    assert pareto_front(rows(('a', 5.0, 0, 80.0), ('b', 5.0, 0, 80.0)), 'accuracy') == ['a', 'b']
    # faster but less accurate: both on the front
    assert pareto_front(rows(('a', 5.0, 0, 80.0), ('b', 4.0, 0, 79.0)), 'accuracy') == ['a', 'b']
    assert pareto_front(TABLE + rows(('skipped', None, 10, 99.0)), 'accuracy') == [
        'big', 'deep_narrow', 'small']


# ------------------------------------------------------------------------------ timing harness
class ScriptedClock:
    """``time.perf_counter`` that only moves when a timed callable advances it."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_harness_interleaves_drops_warmup_and_records_every_round(monkeypatch):
    clock = ScriptedClock()
    monkeypatch.setattr(time, 'perf_counter', clock)
    calls = []
    durations = {'a': [5.0, 5.0, 0.010, 0.012, 0.011, 0.030, 0.013],  # warm-up: 5 s each
                 'b': [7.0, 7.0, 0.020, 0.021, 0.022, 0.019, 0.050]}

    def fn(name):
        def run():
            clock.now += durations[name][sum(c == name for c in calls)]
            calls.append(name)
        return run
    times = time_interleaved({'a': fn('a'), 'b': fn('b')}, repeats=5, warmup=2)
    assert calls == ['a', 'b'] * 7  # interleaved rounds, warm-up rounds first
    assert times['a'] == pytest.approx(durations['a'][2:])  # warm-up excluded
    assert times['b'] == pytest.approx(durations['b'][2:])
    stats = latency_stats(times['a'], batch_size=4)
    assert stats['median_ms'] == pytest.approx(12.0)
    assert stats['samples_ms'] == pytest.approx([10, 12, 11, 30, 13])
    assert stats['p90_ms'] == pytest.approx(
        1000 * statistics.quantiles(times['a'], n=10, method='inclusive')[-1])
    assert 13 < stats['p90_ms'] <= 30
    assert stats['images_per_s'] == pytest.approx(4 / 0.012, rel=1e-3)


def test_harness_stops_at_max_seconds_after_the_minimum_rounds(monkeypatch):
    clock = ScriptedClock()
    monkeypatch.setattr(time, 'perf_counter', clock)

    def slow():
        clock.now += 1.0
    times = time_interleaved({'a': slow, 'b': slow}, repeats=100, warmup=1, max_seconds=7.5)
    assert len(times['a']) == len(times['b']) == 5  # 10 s after 5 rounds: stop
    times = time_interleaved({'a': slow}, repeats=100, warmup=0, max_seconds=2.5)
    assert len(times['a']) == 5  # never fewer than 5 rounds


# ------------------------------------------------------------------------------ the tool's API
def quick(**kw):
    return PickSettings(**dict(dict(warmup=1, repeats=3, max_seconds=None), **kw))


def test_pick_dspnet_writes_the_chosen_network_with_its_latency(tmp_path):
    ckpt, cfg, supernet = dspnet_checkpoint(tmp_path)
    out = tmp_path / 'pick'
    result = pick(ckpt, cfg, quick(budget_ms=1e6, batch_size=2), str(out),
                  print_config=['mmcls'], say=lambda s: None)
    report = result.report
    names = [r['name'] for r in report['candidates']]
    assert names == ['r18_w1', 'r18_w05', 'r10_w05', 'r18_w025']
    assert report['settings']['input_size'] == [28, 28]  # the config's test images
    for r in report['candidates']:
        assert len(r['samples_ms']) == 3
        assert r['median_ms'] == pytest.approx(statistics.median(r['samples_ms']), abs=1e-3)
        assert r['flops'] == supernet.complexity(r['name'], 28)['flops']
    full = report['candidates'][0]
    assert full['speedup'] == 1.0 and full['flops_ratio'] == 1.0
    assert report['reference'] == 'r18_w1'
    # no accuracy given: the most FLOPs within the budget
    assert report['chosen'] == 'r18_w1' and report['front'][0] == 'r18_w1'
    written = load_checkpoint_safely(str(out / 'r18_w1.pth'))
    reference = slim(ckpt, 'r18_w1', config=cfg, input_size=28)
    assert written['state_dict'].keys() == reference['state_dict'].keys()
    assert all(torch.equal(v, reference['state_dict'][k])
               for k, v in written['state_dict'].items())
    lat = written['meta']['latency']
    assert lat['median_ms'] == full['median_ms'] and lat['device'] == 'cpu'
    assert lat['runtime'] == 'torch' and lat['dtype'] == 'fp32'
    assert lat['batch_size'] == 2 and lat['input_size'] == [28, 28]
    config_text = (out / 'r18_w1_mmcls.py').read_text()
    assert os.path.abspath(out / 'r18_w1.pth') in config_text
    assert 'in_channels=64' in config_text  # the last stage of base width 8: 8 * 8
    with open(out / 'pick.json') as f:
        assert json.load(f)['chosen'] == 'r18_w1'
    assert '| r18_w1 (chosen) |' in (out / 'pick.md').read_text()
    assert os.path.getsize(out / 'latency.png') > 1000


def test_pick_with_accuracy_chooses_the_most_accurate_within_budget(tmp_path):
    ckpt, cfg, supernet = dspnet_checkpoint(tmp_path)
    acc = {'r18_w1': 80.0, 'r18_w05': 83.0, 'r10_w05': 79.0, 'r18_w025': 70.0}
    results = [dict(name=n, method='DSPNet', **subnet_summary(supernet, n), knn_top1=v)
               for n, v in acc.items()]
    results.append(dict(name='raw pixels', method='floor', spec=None, flops=0, params=0,
                        knn_top1=75.0))
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(results))
    out = tmp_path / 'pick'
    report = pick(ckpt, cfg, quick(budget_ms=1e6, metric='knn_top1'), str(out), str(path),
                  say=lambda s: None).report
    assert report['chosen'] == 'r18_w05'  # more accurate than the full network
    assert report['floor'] == 75.0
    assert [r['accuracy'] for r in report['candidates']] == list(acc.values())
    meta = load_checkpoint_safely(str(out / 'r18_w05.pth'))['meta']
    assert meta['accuracy']['knn_top1'] == 83.0
    # a FLOPs budget below r18_w05: the most accurate of the rest
    small = supernet.complexity('r10_w05', 28)['flops']
    report = pick(ckpt, cfg, quick(budget_flops=small, metric='knn_top1'),
                  str(tmp_path / 'pick2'), str(path), say=lambda s: None).report
    assert report['chosen'] == 'r10_w05'


def test_nothing_fits_writes_nothing(tmp_path):
    ckpt, cfg, _ = dspnet_checkpoint(tmp_path)
    out = tmp_path / 'pick'
    with pytest.raises(UsageError, match=r"below every candidate: the fastest, '\w+', "
                       r'takes \d+\.\d{3} ms per batch'):
        pick(ckpt, cfg, quick(budget_ms=1e-6), str(out), print_config=['mmcls'],
             say=lambda s: None)
    assert not out.exists()


def test_gating_candidates_dense_and_gated_on_the_configs_images(tmp_path):
    ckpt, cfg, net = gating_checkpoint(tmp_path)
    out = tmp_path / 'pick'
    report = pick(ckpt, cfg, quick(budget_ms=1e6, batch_size=3), str(out),
                  say=lambda s: None).report
    dense, gated = report['candidates']
    assert (dense['name'], gated['name']) == ('dense', 'gated')
    assert dense['median_ms'] > 0 and gated['median_ms'] > 0
    assert gated['flops'] <= net.flops((1, 28, 28)).dense == dense['flops']
    assert report['chosen'] == 'dense' and report['reference'] == 'dense'
    meta = load_checkpoint_safely(str(out / 'dense.pth'))['meta']
    assert meta['branch'] == 'dense' and meta['latency']['batch_size'] == 3


def test_gated_branch_is_skipped_without_the_configs_images(tmp_path):
    ckpt, cfg, _ = gating_checkpoint(tmp_path, data=False)
    said = []
    report = pick(ckpt, cfg, quick(input_size=(28, 28)), str(tmp_path / 'pick'),
                  say=said.append).report
    dense, gated = report['candidates']
    assert dense['median_ms'] > 0 and gated.get('median_ms') is None
    notes = [n for n in report['notes'] if n.startswith('gated: skipped')]
    assert len(notes) == 1 and 'test images are missing' in notes[0]
    assert any(s.startswith('note: gated: skipped') for s in said)


def test_grid_of_a_continuous_supernet_recalibrates_bn(tmp_path):
    from dspnet_mm.apis.deploy import load_candidates
    from dspnet_mm.apis.evaluation import ImageSet
    from dspnet_mm.models.slimmable.bn_calibration import recalibrate_bn
    from mmengine.config import Config
    import copy
    ckpt, cfg_path, supernet = dspnet_checkpoint(tmp_path, continuous=True)
    cfg = Config.fromfile(cfg_path)
    batches = [x for x, _ in ImageSet(cfg, False).batches(16)]
    cands = load_candidates(ckpt, cfg_path, cfg, grid=[0.75, 0.5], input_size=28,
                            calibration=lambda: batches, notes=(notes := []))
    assert [c.name for c in cands] == ['r18_w1', 'r18_w05', 'r10_w05', 'r18_w025', 'w0.75']
    assert notes == ["--grid 0.5 is DN 'r18_w05': timed once, as the DN"]
    grid = cands[-1]
    reference = copy.deepcopy(supernet)
    recalibrate_bn(reference, dict(widths=0.75), batches, len(batches))
    expected = reference.export(dict(widths=0.75))
    assert torch.equal(grid.net.bn1.running_mean, expected.bn1.running_mean)
    sliced = supernet.export(dict(widths=0.75))  # the full BN's statistics, not re-calibrated
    assert not torch.allclose(grid.net.bn1.running_mean, sliced.bn1.running_mean)
    result = grid.write(str(tmp_path / 'w075.pth'), dict(latency={}), False)
    assert result['meta']['bn'] == 're-calibrated' and result['meta']['name'] == 'w0.75'
    assert torch.equal(result['state_dict']['bn1.running_var'], expected.bn1.running_var)


def test_pick_can_choose_a_grid_width(tmp_path):
    ckpt, cfg, supernet = dspnet_checkpoint(tmp_path, continuous=True)
    budget = supernet.complexity(dict(widths=0.75), 28)['flops']
    report = pick(ckpt, cfg, quick(budget_flops=budget, grid=[0.75]), str(tmp_path / 'pick'),
                  say=lambda s: None).report
    assert [r['name'] for r in report['candidates']][-1] == 'w0.75'
    assert report['chosen'] == 'w0.75'  # the most FLOPs within the budget
    meta = load_checkpoint_safely(str(tmp_path / 'pick' / 'w0.75.pth'))['meta']
    assert meta['spec'] == dict(widths=[0.75] * 4, depths=[2, 2, 2, 2])
    assert meta['bn'] == 're-calibrated' and meta['latency']['runtime'] == 'torch'
