"""The bf16 quality study's merge: bf16 minus fp32 per DN against the seed-to-seed spread."""
import pytest

from conftest import load_tool
from dspnet_mm.apis.cli import UsageError

study = load_tool('benchmarks/fmnist_bf16.py')


def part(precision, seed, knn, linear):
    return dict(precision=precision, seed=seed, train_seconds=10. + seed, finished='now',
                rows=[dict(name='r18_w1', method='DSPNet', knn_top1=knn, linear_top1=linear)])


def test_merge_judges_the_difference_against_the_seed_spread():
    r = study.merge([part('fp32', 0, 80.0, 70.0), part('fp32', 1, 81.0, 70.2),
                     part('bf16', 0, 80.4, 68.0), part('bf16', 1, 80.8, 68.4)])
    knn, linear = sorted(r['rows'], key=lambda x: x['metric'])
    assert knn['metric'] == 'knn_top1' and knn['seeds'] == 2
    assert knn['fp32_mean'] == 80.5 and knn['bf16_mean'] == 80.6 and knn['diff'] == 0.1
    assert knn['seed_spread'] == 1.0 and knn['within_seed_spread']
    # probe: 2 points lower in bf16, seeds 0.4 apart: beyond the spread
    assert linear['diff'] == -1.9 and linear['seed_spread'] == 0.4
    assert not linear['within_seed_spread']
    assert r['train_seconds'] == dict(fp32=[10., 11.], bf16=[10., 11.])
    assert '| r18_w1 | linear_top1 |' in study.markdown(r) and '| NO |' in study.markdown(r)


def test_merge_skips_a_dn_with_one_precision_only_and_parts_are_checked():
    assert study.merge([part('fp32', 0, 80., 70.)])['rows'] == []
    with pytest.raises(UsageError, match="--part 'fp16:0' must be PRECISION:SEED"):
        study.main(['--part', 'fp16:0'])
    with pytest.raises(UsageError, match='give --part PRECISION:SEED or --merge'):
        study.main([])
