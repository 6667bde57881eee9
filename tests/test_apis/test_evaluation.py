import torch
import torch.nn.functional as F

from dspnet_mm.apis.evaluation import balanced_subset, knn_top1, linear_probe_top1


def knn_reference(xtr, ytr, xte, yte, k, t):
    """Direct, loop-per-sample implementation of the weighted cosine k-NN."""
    correct = 0
    for x, y in zip(xte, yte):
        sims = torch.stack([F.cosine_similarity(x, z, dim=0) for z in xtr])
        top = sims.topk(k)
        votes = {}
        for s, i in zip(top.values, top.indices):
            votes[int(ytr[i])] = votes.get(int(ytr[i]), 0.0) + float(torch.exp(s / t))
        correct += max(votes, key=votes.get) == int(y)
    return 100.0 * correct / len(yte)


def test_knn_matches_reference():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=g)
    ytr = torch.randint(0, 4, (200, ), generator=g)
    yte = torch.randint(0, 4, (50, ), generator=g)
    xtr = centers[ytr] + 1.5 * torch.randn(200, 16, generator=g)
    xte = centers[yte] + 1.5 * torch.randn(50, 16, generator=g)
    ours = knn_top1(xtr, ytr, xte, yte, k=7, temperature=0.1, chunk=16)
    assert ours == knn_reference(xtr, ytr, xte, yte, 7, 0.1)
    assert 40 < ours < 100  # informative but not trivial


def test_linear_probe_learns_separable_classes():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300, ), generator=g)
    x = torch.randn(300, 8, generator=g)
    x[:, 0] += 6 * y  # class is linearly encoded in one dimension (3 sigma apart)
    acc = linear_probe_top1(x[:200], y[:200], x[200:], y[200:], epochs=100)
    chance = linear_probe_top1(torch.randn(200, 8, generator=g), y[:200],
                               torch.randn(100, 8, generator=g), y[200:], epochs=100)
    assert acc > 95 and chance < 60


def test_balanced_subset():
    labels = torch.arange(10).repeat_interleave(100)
    idx = balanced_subset(labels, 0.1)
    assert len(idx) == 100 and torch.equal(labels[idx].bincount(), torch.full((10, ), 10))
    assert torch.equal(idx, balanced_subset(labels, 0.1))  # seeded
