"""Accuracy where labels are scarce (``tools/eval_subnets.py --labels``): class-balanced
draws, the same draws for every row (the floor included), the k-NN bank really reduced and the
probe fitted on the subset only; bad fractions and metrics refused before any work."""
import json

import pytest
import torch

from conftest import load_tool
from deploy_fixtures import dspnet_checkpoint
from dspnet_mm.apis import subnet_evaluation as se
from dspnet_mm.apis.cli import UsageError

eval_subnets = load_tool('eval_subnets.py')


def test_draws_are_class_balanced_distinct_and_seeded():
    labels = torch.arange(10).repeat_interleave(50)[torch.randperm(500)]
    draws = se.label_draws(labels, 0.1, draws=5)
    assert len(draws) == 5
    for idx in draws:
        assert torch.equal(labels[idx].bincount(), torch.full((10, ), 5))  # 10% of each class
        assert len(idx.unique()) == len(idx) == 50
    assert len({tuple(idx.tolist()) for idx in draws}) == 5  # five different subsets
    again = se.label_draws(labels, 0.1, draws=5)
    assert all(torch.equal(a, b) for a, b in zip(draws, again))


def test_fraction_below_one_image_per_class_is_refused():
    labels = torch.cat([torch.zeros(200), torch.ones(30)]).long()
    with pytest.raises(UsageError, match=r'--labels 0.01 keeps less than one image per '
                       r'class: the smallest class has 30 training images; give at least '
                       r'0.0333'):
        se.label_draws(labels, 0.01)
    assert len(se.label_draws(labels, 1 / 30)[0]) == 7 + 1  # round(200/30) + 1


def blobs(n, seed, spread=2.0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(5, 16, generator=torch.Generator().manual_seed(7)) * 2
    y = torch.arange(5).repeat_interleave(n // 5)
    return centers[y] + spread * torch.randn(len(y), 16, generator=g), y


def test_scores_use_only_the_subset(monkeypatch):
    xtr, ytr = blobs(500, 0, spread=4.0)
    xte, yte = blobs(100, 1, spread=4.0)
    draws = {0.04: se.label_draws(ytr, 0.04, 2)}
    knn_banks, probe_sets, probe_results = [], [], []
    real_knn, real_probe = se.knn_top1, se.linear_probe

    def knn_spy(train_feats, train_labels, *args, **kwargs):
        knn_banks.append((train_feats.clone(), train_labels.clone()))
        return real_knn(train_feats, train_labels, *args, **kwargs)

    def probe_spy(train_feats, train_labels, *args, **kwargs):
        probe_sets.append(train_feats.clone())
        probe_results.append(real_probe(train_feats, train_labels, *args, **kwargs)['top1'])
        return dict(top1=probe_results[-1])
    monkeypatch.setattr(se, 'knn_top1', knn_spy)
    monkeypatch.setattr(se, 'linear_probe', probe_spy)
    out = se.low_label_scores(xtr, ytr, xte, yte, draws, k=20)
    # 4% of 500: the bank and the probe's training set are each draw's subset, never the
    # whole set
    assert [len(b[0]) for b in knn_banks] == [20, 20] == [len(p) for p in probe_sets]
    for (feats, labels), probe_feats, idx in zip(knn_banks, probe_sets, draws[0.04]):
        assert torch.equal(feats, xtr[idx]) and torch.equal(labels, ytr[idx])
        assert torch.equal(probe_feats, xtr[idx])
    expected_knn = [real_knn(xtr[i], ytr[i], xte, yte, k=20) for i in draws[0.04]]
    assert out['knn_top1_labels0.04_draws'] == expected_knn
    assert out['linear_top1_labels0.04_draws'] == probe_results
    assert out['knn_top1_labels0.04'] == pytest.approx(sum(expected_knn) / 2)
    assert out['knn_top1_labels0.04_std'] == pytest.approx(
        torch.tensor(expected_knn).std().item())
    # what a whole bank would give differs: the columns measure the reduced bank
    assert out['knn_top1_labels0.04'] != real_knn(xtr, ytr, xte, yte, k=20)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return dspnet_checkpoint(tmp_path_factory.mktemp('lowlabel'), num_images=60)


def cheap_probe(train_feats, train_labels, test_feats, test_labels, **kwargs):
    """A stand-in for the converged probe (its fit is tested in test_evaluation.py): the
    nearest class mean of the training features it is given."""
    means = torch.stack([train_feats[train_labels == c].mean(0) if (train_labels == c).any()
                         else torch.full_like(train_feats[0], float('inf'))
                         for c in range(int(test_labels.max()) + 1)])
    top1 = 100.0 * (torch.cdist(test_feats, means).argmin(1) == test_labels).float().mean()
    return dict(top1=top1.item(), train_top1=0.0, l2=1.0, val_top1=0.0)


def test_every_row_gets_the_same_draws(tiny, tmp_path, monkeypatch):
    ckpt, cfg, _ = tiny
    monkeypatch.setattr(se, 'linear_probe', cheap_probe)
    seen = []  # (row's feature width, labels of each reduced bank)
    real = se.low_label_scores

    def spy(train_feats, train_labels, test_feats, test_labels, draws, k=20):
        seen.append((train_feats.size(1), {f: [train_labels[i].tolist() for i in subsets]
                                           for f, subsets in draws.items()},
                     {f: [i.tolist() for i in subsets] for f, subsets in draws.items()}))
        return real(train_feats, train_labels, test_feats, test_labels, draws, k)
    monkeypatch.setattr(se, 'low_label_scores', spy)
    out = tmp_path / 'eval'
    rc = eval_subnets.main([ckpt, '--config', cfg, '--subnets', 'r18_w05,r18_w025',
                            '--labels', '0.5', '--label-draws', '3', '--k', '5',
                            '--metric', 'linear_top1_labels0.5', '--out-dir', str(out)])
    assert rc == 0
    assert [s[0] for s in seen] == [32, 16, 784]  # two DNs, then raw pixels (the floor)
    assert seen[0][2] == seen[1][2] == seen[2][2]  # same indices for every row
    assert seen[0][1] == seen[2][1]  # and so the same labels
    assert len(seen[0][2][0.5]) == 3
    with open(out / 'results.json') as f:
        rows = json.load(f)
    for r in rows:
        for m in ('knn_top1', 'linear_top1'):
            assert len(r[f'{m}_labels0.5_draws']) == 3
            assert 0 <= r[f'{m}_labels0.5'] <= 100 and r[f'{m}_labels0.5_std'] >= 0
    table = (out / 'results.md').read_text()
    assert 'knn_top1_labels0.5' in table and ' ± ' in table


@pytest.mark.parametrize('bad,expected', [
    (('--labels', '0'), '--labels fraction 0.0 is outside (0, 1]'),
    (('--labels', '1.5'), '--labels fraction 1.5 is outside (0, 1]'),
    (('--labels', '0.1,x'), "--labels '0.1,x' must be comma-separated fractions"),
    (('--labels', '0.001'), '--labels 0.001 keeps less than one image per class'),
    (('--label-draws', '0'), '--label-draws 0 must be an integer >= 1'),
    (('--metric', 'top5'), "--metric 'top5' is not a column of this evaluation"),
    (('--metric', 'knn_top1_labels0.01'), "--metric 'knn_top1_labels0.01' is not a column"),
])
def test_bad_low_label_arguments(tiny, tmp_path, capsys, bad, expected):
    ckpt, cfg, _ = tiny
    out = tmp_path / 'eval'
    rc = eval_subnets.main([ckpt, '--config', cfg, *bad, '--out-dir', str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith('error: ') and len(err.strip().splitlines()) == 1
    assert expected in err, err
    assert not (out / 'results.json').exists()
