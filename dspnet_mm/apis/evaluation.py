"""Evaluation of frozen (or fine-tuned) backbones: k-NN, linear probe, semi-supervised."""
from typing import Callable, Iterable, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import DefaultScope

from dspnet_mm.registry import DATASETS


@torch.no_grad()
def extract_features(backbone: nn.Module, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]],
                     progress: Callable = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Global-average-pooled last-stage features (N, C) and labels (N,) of a frozen backbone
    in eval mode; ``batches`` yields normalised images (B, C, H, W) and labels (B,)."""
    was_training = backbone.training
    backbone.eval()
    feats, labels = [], []
    for images, targets in batches:
        out = backbone(images)[-1]
        feats.append(F.adaptive_avg_pool2d(out, 1).flatten(1))
        labels.append(targets)
        if progress is not None:
            progress(len(targets))
    backbone.train(was_training)
    if not feats:
        raise ValueError('no images to extract features from: the dataset is empty')
    return torch.cat(feats), torch.cat(labels)


@torch.no_grad()
def knn_top1(train_feats, train_labels, test_feats, test_labels, k: int = 20,
             temperature: float = 0.07, chunk: int = 1024) -> float:
    """Weighted k-NN top-1 accuracy (%) on cosine similarity (the protocol of InstDisc,
    DINO and solo-learn): each of the k nearest training features votes for its label with
    weight exp(sim / temperature)."""
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    train_n = F.normalize(train_feats, dim=1)
    test_n = F.normalize(test_feats, dim=1)
    k = min(k, len(train_n))
    correct = 0
    for i in range(0, len(test_n), chunk):
        sim, idx = (test_n[i:i + chunk] @ train_n.T).topk(k, dim=1)
        votes = torch.zeros(len(sim), num_classes)
        votes.scatter_add_(1, train_labels[idx], (sim / temperature).exp())
        correct += (votes.argmax(1) == test_labels[i:i + chunk]).sum().item()
    return 100.0 * correct / len(test_n)


def linear_probe_top1(train_feats, train_labels, test_feats, test_labels, epochs: int = 100,
                      lr: float = 0.1, weight_decay: float = 1e-4, seed: int = 0) -> float:
    """Top-1 accuracy (%) of a linear classifier trained on frozen, standardised features
    (full-batch SGD with momentum and cosine decay)."""
    g = torch.Generator().manual_seed(seed)
    mean, std = train_feats.mean(0), train_feats.std(0) + 1e-6
    xtr, xte = (train_feats - mean) / std, (test_feats - mean) / std
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    clf = nn.Linear(xtr.size(1), num_classes)
    nn.init.normal_(clf.weight, std=0.01, generator=g)
    nn.init.zeros_(clf.bias)
    opt = torch.optim.SGD(clf.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        opt.zero_grad()
        F.cross_entropy(clf(xtr), train_labels).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        return 100.0 * (clf(xte).argmax(1) == test_labels).float().mean().item()


def _fit_softmax_regression(x, y, num_classes: int, l2: float, max_iter: int):
    """Multinomial logistic regression, mean cross-entropy + l2/2 ||W||^2, by L-BFGS to
    convergence (strong Wolfe line search) from zero weights: (W (D, K), b (K,))."""
    w = torch.zeros(x.size(1), num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-7, tolerance_change=1e-10,
                            line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + 0.5 * l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def linear_probe(train_feats, train_labels, test_feats, test_labels,
                 l2_grid=(1e-6, 1e-5, 1e-4, 1e-3, 1e-2), val_fraction: float = 0.1,
                 max_iter: int = 300, seed: int = 0) -> dict:
    """A converged linear probe on frozen, standardised features: softmax regression fitted by
    L-BFGS; the L2 weight is chosen on a held-out ``val_fraction`` of the TRAINING set (never
    the test set), then the probe is refitted on the whole training set.

    Returns dict(top1=test top-1 %, train_top1=its top-1 on the training set (shows under- or
    overfitting), l2=the chosen weight, val_top1=its validation top-1 %)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f'val_fraction {val_fraction} must be in (0, 1)')
    mean, std = train_feats.mean(0), train_feats.std(0) + 1e-6
    xtr, xte = (train_feats - mean) / std, (test_feats - mean) / std
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    order = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(len(xtr) * val_fraction))
    val, fit = order[:n_val], order[n_val:]

    def top1(w, b, x, y):
        return 100.0 * ((x @ w + b).argmax(1) == y).float().mean().item()

    scores = {}
    for l2 in l2_grid:
        w, b = _fit_softmax_regression(xtr[fit], train_labels[fit], num_classes, l2, max_iter)
        scores[l2] = top1(w, b, xtr[val], train_labels[val])
    best = max(l2_grid, key=lambda l2: (scores[l2], l2))  # ties: the stronger regulariser
    w, b = _fit_softmax_regression(xtr, train_labels, num_classes, best, max_iter)
    return dict(top1=top1(w, b, xte, test_labels), train_top1=top1(w, b, xtr, train_labels),
                l2=best, val_top1=scores[best])


def raw_pixels(batches: Iterable[Tuple[torch.Tensor, torch.Tensor]]
               ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The floor of every feature extractor: normalised images flattened to (N, C*H*W)."""
    images, labels = [], []
    for x, y in batches:
        images.append(x.flatten(1))
        labels.append(y)
    if not images:
        raise ValueError('no images: the dataset is empty')
    return torch.cat(images), torch.cat(labels)


def finetune_top1(backbone: nn.Module, train_images, train_labels, test_batches,
                  epochs: int = 10, batch_size: int = 64, lr: float = 0.01,
                  seed: int = 0) -> float:
    """Semi-supervised protocol: fine-tune ``backbone`` + a linear head end to end on a small
    labelled set (tensors), then report top-1 (%) on ``test_batches``."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        backbone.eval()
        dim = backbone(train_images[:2])[-1].size(1)
    num_classes = int(train_labels.max()) + 1
    head = nn.Linear(dim, num_classes)
    params = list(backbone.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    steps = epochs * max(1, (len(train_images) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    backbone.train()
    for _ in range(epochs):
        order = torch.randperm(len(train_images), generator=g)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:  # BN needs two samples
                continue
            feats = F.adaptive_avg_pool2d(backbone(train_images[idx])[-1], 1).flatten(1)
            loss = F.cross_entropy(head(feats), train_labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    backbone.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in test_batches:
            feats = F.adaptive_avg_pool2d(backbone(images)[-1], 1).flatten(1)
            correct += (head(feats).argmax(1) == labels).sum().item()
            total += len(labels)
    return 100.0 * correct / max(total, 1)


def balanced_subset(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Indices of a class-balanced random subset holding ``fraction`` of each class."""
    if not 0 < fraction <= 1:
        raise ValueError(f'label fraction {fraction} is outside (0, 1]')
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        n = max(1, round(fraction * len(idx)))
        picked.append(idx[torch.randperm(len(idx), generator=g)[:n]])
    return torch.cat(picked).sort().values


class ImageSet:
    """Normalised image tensors and labels of one split of the config's dataset."""

    def __init__(self, cfg: Config, test_mode: bool, subset=None):
        ds_cfg = dict(cfg.train_dataloader.dataset)
        ds_cfg.update(test_mode=test_mode, pipeline=[dict(type='mmcls.PackClsInputs')])
        ds_cfg.pop('indices', None)
        split = 'test' if test_mode else 'train'
        if subset is not None:
            if subset < 1:
                raise ValueError(f'the {split} split is empty: --{split}-subset {subset} '
                                 'keeps no image (give N >= 1)')
            ds_cfg['indices'] = subset
        with DefaultScope.overwrite_default_scope('mmselfsup'):
            self.dataset = DATASETS.build(ds_cfg)
        if len(self.dataset) == 0:
            raise ValueError(f"the {split} split of {ds_cfg['type']} is empty; check the "
                             'dataset settings')
        pre = cfg.model.get('data_preprocessor', {})
        self.mean = torch.tensor(pre.get('mean', (0., ))).view(1, -1, 1, 1)
        self.std = torch.tensor(pre.get('std', (1., ))).view(1, -1, 1, 1)

    def __len__(self):
        return len(self.dataset)

    def batches(self, batch_size):
        for i in range(0, len(self.dataset), batch_size):
            items = [self.dataset[j] for j in range(i, min(i + batch_size, len(self.dataset)))]
            images = torch.stack([it['inputs'] for it in items]).float()
            labels = torch.stack([it['data_samples'].gt_label.label for it in items]).flatten()
            yield (images - self.mean) / self.std, labels

    def labels(self) -> torch.Tensor:
        """The labels (N,) of every image, without decoding the images."""
        if hasattr(self.dataset, 'get_gt_labels'):
            return torch.as_tensor(self.dataset.get_gt_labels()).long().flatten()
        return torch.cat([y for _, y in self.batches(1024)])

    def tensors(self, batch_size=1024):
        images, labels = zip(*self.batches(batch_size))
        return torch.cat(images), torch.cat(labels)
