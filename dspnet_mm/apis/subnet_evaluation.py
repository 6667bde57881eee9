"""Evaluate every desired network of a DSPNet checkpoint (``tools/eval_subnets.py``).

For each DN: slim it, extract frozen features on the train and test splits of the config's
dataset, and report weighted k-NN top-1 (cosine, k=20, T=0.07), linear-probe top-1 (converged
L-BFGS softmax regression, L2 chosen on 10 % of the training set; its train top-1 too), FLOPs
and params, optionally fine-tuning top-1 with a fraction of the labels. Raw pixels under the
same protocol (the floor) are a row of their own. Everything is checked in
:func:`prepare_evaluation`, before the first feature is extracted.

Where labels are scarce (``labels``, e.g. 1 % and 10 %): the k-NN bank is reduced to a
class-balanced subset of the training labels and the converged probe is fitted on that subset
only; ``label_draws`` subsets (5) are drawn once and serve every row, the floor included;
each column is the mean over the draws, with its standard deviation (``_std``) and the
values of every draw (``_draws``).
"""
import os
import statistics
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch
from mmengine.config import Config

from dspnet_mm.models import PlainResNet, SlimmableResNet
from .backbone import load_backbone
from .checkpoint import CheckpointError
from .cli import UsageError
from .evaluation import (ImageSet, balanced_subset, extract_features, finetune_top1, knn_top1,
                         linear_probe, linear_probe_top1, raw_pixels)  # noqa: F401
from .report import markdown_table, write_json, write_text
from .slim import load_supernet, network_summary, subnet_summary

PROBES = ('lbfgs', 'sgd')


@dataclass
class EvalSettings:
    """The protocol's knobs (``tools/eval_subnets.py`` flags of the same names)."""
    k: int = 20
    probe: str = 'lbfgs'
    linear_epochs: int = 100
    batch_size: int = 256
    semi: Sequence[float] = ()
    semi_epochs: int = 10
    random_init: bool = False
    train_subset: Optional[int] = None
    test_subset: Optional[int] = None
    labels: Sequence[float] = ()
    label_draws: int = 5
    metric: str = 'knn_top1'

    def validate(self):
        for name in ('k', 'linear_epochs', 'batch_size', 'semi_epochs', 'train_subset',
                     'test_subset', 'label_draws'):
            value = getattr(self, name)
            if value is None and name.endswith('subset'):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"--{name.replace('_', '-')} {value!r} must be an integer "
                                 '>= 1')
        if self.probe not in PROBES:
            raise UsageError(f'--probe {self.probe!r} must be one of {PROBES}')
        for f in self.semi:
            if not 0 < f <= 1:
                raise UsageError(f'--semi fraction {f!r} is outside (0, 1]')
        for f in self.labels:
            if not 0 < f <= 1:
                raise UsageError(f'--labels fraction {f!r} is outside (0, 1]')
        if self.metric not in self.columns():
            raise UsageError(f'--metric {self.metric!r} is not a column of this evaluation; '
                             f"its columns: {', '.join(self.columns())}")

    def columns(self) -> List[str]:
        """The accuracy columns every row of this evaluation has (``--metric`` picks one)."""
        cols = ['knn_top1', 'linear_top1']
        if self.probe == 'lbfgs':
            cols.append('linear_train_top1')
        if self.random_init:
            cols.append('knn_top1_random_init')
        cols += [f'semi_{f:g}_top1' for f in self.semi]
        cols += [label_column(m, f) for f in self.labels for m in ('knn_top1', 'linear_top1')]
        return cols


def label_column(metric: str, fraction: float) -> str:
    """``label_column('knn_top1', 0.01)`` -> ``'knn_top1_labels0.01'``."""
    return f'{metric}_labels{fraction:g}'


def label_draws(labels: torch.Tensor, fraction: float, draws: int = 5,
                seed: int = 0) -> List[torch.Tensor]:
    """``draws`` class-balanced subsets of the training set, each holding ``fraction`` of
    every class (at least one image; see :func:`balanced_subset`), as sorted indices; draw
    ``i`` is seeded with ``seed + i``. A fraction that keeps less than one image of some
    class is refused."""
    counts = labels.bincount()
    present = counts[counts > 0]
    smallest = int(present.min())
    if fraction * smallest < 1 - 1e-9:
        raise UsageError(f'--labels {fraction:g} keeps less than one image per class: the '
                         f'smallest class has {smallest} training images; give at least '
                         f'{1 / smallest:.3g}')
    return [balanced_subset(labels, fraction, seed=seed + i) for i in range(draws)]


def parse_fractions(text: Optional[str], flag: str = '--semi') -> List[float]:
    """``'0.01,0.1'`` -> ``[0.01, 0.1]``."""
    if not text:
        return []
    try:
        return [float(f) for f in text.split(',')]
    except ValueError:
        raise UsageError(f'{flag} {text!r} must be comma-separated fractions in (0, 1], '
                         'e.g. 0.01,0.1') from None


def parse_baselines(items: Sequence[str]) -> Dict[str, str]:
    """``['r18_w05=path', ...]`` -> ``{'r18_w05': 'path'}``."""
    out = {}
    for item in items:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            raise UsageError(f'--baseline {item!r} must be NAME=CHECKPOINT')
        if name in out:
            raise UsageError(f'--baseline {name!r} is given twice')
        out[name] = path
    return out


def load_baseline(path: str):
    """A checkpoint of one network pretrained alone (BYOL config of one fixed DN), or a slimmed
    file: (network in eval mode, its spec/FLOPs/params summary)."""
    net, cfg, _ = load_backbone(path, types=('PlainResNet', 'SlimmableResNet'))
    if not isinstance(net, PlainResNet):
        raise CheckpointError(f'{path!r}: its backbone is a DSPNet supernet, not one network '
                              'pretrained alone; give a BYOL checkpoint of one DN or a '
                              'slimmed file')
    summary = network_summary(net)
    return net, summary


@dataclass
class Evaluation:
    """Everything an evaluation needs, loaded and checked."""
    supernet: SlimmableResNet
    names: List[str]
    train: ImageSet
    test: ImageSet
    settings: EvalSettings
    baselines: Dict[str, tuple] = field(default_factory=dict)  # name -> (net, summary, path)
    draws: Dict[float, List[torch.Tensor]] = field(default_factory=dict)  # fraction -> subsets


def prepare_evaluation(checkpoint: str, config: str, subnets: Optional[Sequence[str]] = None,
                       baselines: Optional[Mapping[str, str]] = None,
                       settings: Optional[EvalSettings] = None,
                       cfg_options: Optional[dict] = None) -> Evaluation:
    """Check and load every input; fails with one clear error before any long work."""
    settings = settings or EvalSettings()
    settings.validate()
    if not os.path.isfile(config):
        raise UsageError(f'--config {config!r} does not exist')
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    supernet, _ = load_supernet(checkpoint, config)
    names = list(subnets) if subnets else list(supernet.subnets)
    for name in names:
        supernet.resolve(name)  # unknown names fail here
    loaded = {}
    for name, path in (baselines or {}).items():
        if name not in supernet.subnets:
            raise UsageError(f'--baseline {name}=...: {name!r} is not a desired network of '
                             f"the checkpoint; known: {', '.join(supernet.subnets)}")
        loaded[name] = (*load_baseline(path), path)
    train = ImageSet(cfg, False, settings.train_subset)
    test = ImageSet(cfg, True, settings.test_subset)
    if settings.k > len(train):
        raise UsageError(f'--k {settings.k} exceeds the {len(train)} training images of the '
                         'k-NN bank; give --k <= the number of training images')
    draws = {}
    if settings.labels:
        labels = train.labels()
        draws = {f: label_draws(labels, f, settings.label_draws) for f in settings.labels}
    return Evaluation(supernet, names, train, test, settings, loaded, draws)


def _scores(net, ev: Evaluation, progress) -> dict:
    return score_network(net, ev.train, ev.test, ev.settings, progress, ev.draws)


def score_network(net, train: ImageSet, test: ImageSet, s: EvalSettings,
                  progress: Optional[Callable[[int], None]] = None,
                  draws: Optional[Mapping[float, List[torch.Tensor]]] = None) -> dict:
    """k-NN and linear-probe top-1 of one frozen network (``None``: raw pixels, the floor),
    and with ``draws`` the same where labels are scarce (:func:`low_label_scores`)."""
    if net is None:  # the floor: raw pixels
        ftr, ltr = raw_pixels(train.batches(s.batch_size))
        fte, lte = raw_pixels(test.batches(s.batch_size))
    else:
        ftr, ltr = extract_features(net, train.batches(s.batch_size), progress)
        fte, lte = extract_features(net, test.batches(s.batch_size), progress)
    out = dict(knn_top1=knn_top1(ftr, ltr, fte, lte, k=s.k))
    if s.probe == 'sgd':
        out['linear_top1'] = linear_probe_top1(ftr, ltr, fte, lte, epochs=s.linear_epochs)
    else:
        probe = linear_probe(ftr, ltr, fte, lte)
        out.update(linear_top1=probe['top1'], linear_train_top1=probe['train_top1'],
                   linear_l2=probe['l2'])
    if draws:
        out.update(low_label_scores(ftr, ltr, fte, lte, draws, s.k))
    return out


def low_label_scores(train_feats, train_labels, test_feats, test_labels,
                     draws: Mapping[float, List[torch.Tensor]], k: int = 20) -> dict:
    """k-NN top-1 with the bank reduced to each labelled subset, and the converged probe
    fitted on that subset only, both on the whole test set: per fraction the mean over the
    draws (``knn_top1_labels0.01``), its standard deviation (``..._std``, 0 for one draw)
    and every draw's value (``..._draws``)."""
    out = {}
    for fraction, subsets in draws.items():
        per_metric = {'knn_top1': [], 'linear_top1': []}
        for idx in subsets:
            xs, ys = train_feats[idx], train_labels[idx]
            per_metric['knn_top1'].append(knn_top1(xs, ys, test_feats, test_labels, k=k))
            per_metric['linear_top1'].append(linear_probe(xs, ys, test_feats,
                                                          test_labels)['top1'])
        for metric, values in per_metric.items():
            col = label_column(metric, fraction)
            out[col] = statistics.fmean(values)
            out[col + '_std'] = statistics.stdev(values) if len(values) > 1 else 0.
            out[col + '_draws'] = values
    return out


def feature_passes(ev: Evaluation) -> int:
    """Images that go through a network: the size of a progress bar."""
    nets = len(ev.names) * (1 + ev.settings.random_init) + len(ev.baselines)
    return nets * (len(ev.train) + len(ev.test))


def evaluate_subnets(ev: Evaluation, out_dir: Optional[str] = None,
                     progress: Optional[Callable[[int], None]] = None) -> List[dict]:
    """The result rows (DSPNet DNs, one-by-one baselines, the raw-pixel floor). With
    ``out_dir``, results are written as soon as the frozen-feature protocol is done, and again
    after the optional fine-tuning, so a failure there loses nothing already measured."""
    rows = []
    for name in ev.names:
        row = dict(name=name, method='DSPNet', **subnet_summary(ev.supernet, name),
                   **_scores(ev.supernet.export(name), ev, progress))
        if ev.settings.random_init:
            torch.manual_seed(0)
            rand = ev.supernet.export(name, weights=False)
            row['knn_top1_random_init'] = _scores(rand, ev, progress)['knn_top1']
        rows.append(row)
    for name, (net, summary, _) in ev.baselines.items():
        rows.append(dict(name=name, method='one-by-one', **summary, **_scores(net, ev, progress)))
    rows.append(dict(name='raw pixels', method='floor', spec=None, flops=0, params=0,
                     **_scores(None, ev, None)))
    if out_dir:
        write_results(rows, out_dir, ev.settings.metric)
    if ev.settings.semi:
        xtr, ytr = ev.train.tensors()
        for row in rows:
            if row['method'] == 'floor':
                continue
            for f in ev.settings.semi:
                idx = balanced_subset(ytr, f)
                net = (ev.supernet.export(row['name']) if row['method'] == 'DSPNet' else
                       load_baseline(ev.baselines[row['name']][2])[0])
                row[f'semi_{f:g}_top1'] = finetune_top1(
                    net, xtr[idx], ytr[idx], ev.test.batches(ev.settings.batch_size),
                    epochs=ev.settings.semi_epochs)
        if out_dir:
            write_results(rows, out_dir, ev.settings.metric)
    return rows


def _is_label_column(key: str) -> bool:
    return '_labels' in key and not key.endswith(('_std', '_draws'))


def _cell(row: dict, key: str) -> str:
    if key not in row:
        return ''
    if _is_label_column(key):  # mean +- standard deviation over the draws
        return f"{row[key]:.2f} ± {row[key + '_std']:.2f}"
    return f'{row[key]:.2f}'


def results_table(rows: List[dict]) -> str:
    extra = sorted({k for r in rows for k in r
                    if k.startswith(('semi_', 'knn_top1_random', 'linear_train'))})
    extra += sorted({k for r in rows for k in r if _is_label_column(k)})
    head = ['DN', 'method', 'widths', 'depths', 'MFLOPs', 'Mparams', 'k-NN top-1',
            'linear top-1'] + extra
    cells = []
    for r in rows:
        shape = ([str(r['spec']['widths']), str(r['spec']['depths']),
                  f"{r['flops'] / 1e6:.1f}", f"{r['params'] / 1e6:.3f}"] if r['spec'] else
                 ['-'] * 4)
        cells.append([r['name'], r['method'], *shape, f"{r['knn_top1']:.2f}",
                      f"{r['linear_top1']:.2f}"] +
                     [_cell(r, k) for k in extra])
    return markdown_table(head, cells)


def write_results(rows: List[dict], out_dir: str, metric: str = 'knn_top1') -> str:
    """results.json, results.md and accuracy_vs_flops.png (``metric`` against FLOPs) in
    ``out_dir``; returns the table."""
    write_json(os.path.join(out_dir, 'results.json'), rows)
    table = results_table(rows)
    write_text(os.path.join(out_dir, 'results.md'), table + '\n')
    plot_accuracy_vs_flops(rows, os.path.join(out_dir, 'accuracy_vs_flops.png'), metric)
    return table


def plot_accuracy_vs_flops(rows: List[dict], path: str, metric: str = 'knn_top1'):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, marker in (('DSPNet', 'o-'), ('one-by-one', 's')):
        pts = sorted((r['flops'] / 1e6, r[metric], r['name'], r.get(metric + '_std', 0.))
                     for r in rows if r['method'] == method and metric in r)
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[3] for p in pts],
                        fmt=marker, capsize=2, label=method)
            for x, y, n, _ in pts:
                ax.annotate(n, (x, y), fontsize=7, textcoords='offset points', xytext=(3, 3))
    for r in rows:
        if r['method'] == 'floor' and metric in r:
            ax.axhline(r[metric], color='grey', ls='--', label='raw pixels (floor)')
    ax.set_xlabel('MFLOPs (one image)')
    ax.set_ylabel(f'{metric} (%)')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
