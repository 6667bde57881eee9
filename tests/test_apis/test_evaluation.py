import torch
import torch.nn.functional as F

from sklearn.linear_model import LogisticRegression  # (installed with mmselfsup)

from dspnet_mm.apis.evaluation import (_fit_softmax_regression, balanced_subset, knn_top1,
                                       linear_probe, linear_probe_top1, raw_pixels)


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


def blobs(n, d=12, k=4, seed=0, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, d, generator=torch.Generator().manual_seed(99))
    y = torch.randint(0, k, (n, ), generator=g)
    return centers[y] + spread * torch.randn(n, d, generator=g), y


def test_softmax_regression_equals_sklearn_at_convergence():
    """Our L-BFGS fit minimises mean CE + l2/2 ||W||^2; sklearn's multinomial
    LogisticRegression minimises ||W||^2 / 2 + C sum CE, the same optimum for C = 1/(l2 n)."""
    x, y = blobs(400, spread=1.5)
    l2 = 1e-2
    w, b = _fit_softmax_regression(x, y, 4, l2, max_iter=500)
    ref = LogisticRegression(C=1 / (l2 * len(x)), tol=1e-10, max_iter=10000).fit(
        x.double().numpy(), y.numpy())
    ours = torch.softmax(x @ w + b, 1)
    torch.testing.assert_close(ours.double(), torch.from_numpy(ref.predict_proba(x.numpy())),
                               atol=2e-4, rtol=0)


def test_linear_probe_picks_l2_on_train_split_and_reports_train_accuracy():
    x, y = blobs(600, spread=2.0)
    xt, yt = blobs(300, seed=1, spread=2.0)
    out = linear_probe(x, y, xt, yt)
    assert out['l2'] in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
    assert 40 < out['top1'] < 100 and out['train_top1'] >= out['top1'] - 5
    # the choice never looks at the test set: scrambled test labels change only top1
    scrambled = linear_probe(x, y, xt, yt[torch.randperm(300)])
    assert scrambled['l2'] == out['l2'] and scrambled['train_top1'] == out['train_top1']
    assert scrambled['top1'] < 50
    # converged: at least as good on its own training set as the 100-epoch SGD probe's test top-1
    assert out['train_top1'] >= linear_probe_top1(x, y, x, y, epochs=100) - 0.5


def test_raw_pixels_is_the_flattened_normalised_image():
    images = torch.randn(5, 1, 4, 4)
    labels = torch.arange(5)
    feats, ys = raw_pixels([(images[:3], labels[:3]), (images[3:], labels[3:])])
    assert torch.equal(feats, images.reshape(5, 16)) and torch.equal(ys, labels)
