"""Evaluate every desired network of a DSPNet checkpoint (and optional one-by-one baselines).

    python tools/eval_subnets.py work_dirs/dspnet_r18_fmnist/iter_1600.pth \
        --config configs/dspnet_r18_fmnist.py --out-dir work_dirs/eval [--random-init] \
        [--baseline r18_w05=work_dirs/byol_r18_w05/iter_1600.pth] [--semi 0.01,0.1]

For each DN: slim it, extract frozen features on the train and test splits of the config's
dataset, and report weighted k-NN top-1 (cosine, k=20, T=0.07), linear-probe top-1 (converged
L-BFGS softmax regression, L2 chosen on 10% of the training set; its train top-1 too), FLOPs
and params (and fine-tuning top-1 with 1%/10% of the labels with --semi). The floor, raw pixels
under the same protocol, is a row of its own. Writes results.json, results.md and
accuracy_vs_flops.png to --out-dir.
"""
import argparse
import json
import os
import sys

import torch
from mmengine.config import Config, DictAction
from mmengine.utils import ProgressBar

import dspnet_mm  # noqa: F401
from dspnet_mm.apis import CheckpointError, load_checkpoint_safely, load_supernet
from dspnet_mm.apis.evaluation import (ImageSet, balanced_subset, extract_features,
                                       finetune_top1, knn_top1, linear_probe, linear_probe_top1,
                                       raw_pixels)
from dspnet_mm.apis.slim import subnet_summary
from dspnet_mm.models import SlimmableResNet


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='k-NN / linear / semi-supervised evaluation of '
                                'every desired network')
    p.add_argument('checkpoint')
    p.add_argument('--config', required=True, help='the pretraining config')
    p.add_argument('--subnets', help='comma-separated DN names (default: all)')
    p.add_argument('--baseline', action='append', default=[], metavar='NAME=CKPT',
                   help='a network pretrained alone (BYOL config of one DN) to compare')
    p.add_argument('--random-init', action='store_true',
                   help='also evaluate each DN with random weights (reference)')
    p.add_argument('--train-subset', type=int, help='use the first N training images')
    p.add_argument('--test-subset', type=int, help='use the first N test images')
    p.add_argument('--k', type=int, default=20)
    p.add_argument('--probe', choices=['lbfgs', 'sgd'], default='lbfgs',
                   help='lbfgs: converged softmax regression, L2 chosen on a train split '
                   '(default); sgd: the earlier underfit probe, --linear-epochs full-batch '
                   'epochs')
    p.add_argument('--linear-epochs', type=int, default=100)
    p.add_argument('--semi', help='label fractions for fine-tuning, e.g. 0.01,0.1')
    p.add_argument('--semi-epochs', type=int, default=10)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--out-dir', default='work_dirs/eval_subnets')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of the config, e.g. the dataset folder')
    return p.parse_args(argv)


def fixed_network(backbone_cfg: dict, state_dict=None) -> SlimmableResNet:
    cfg = dict(backbone_cfg)
    cfg.pop('type', None)
    cfg.pop('init_cfg', None)
    net = SlimmableResNet(**cfg)
    if state_dict is not None:
        net.load_state_dict(state_dict, strict=True)
    return net.eval()


def load_baseline(path: str):
    """A plain BYOL checkpoint of one fixed DN: (network, its FLOPs/params summary)."""
    ckpt = load_checkpoint_safely(path)
    cfg_text = ckpt.get('meta', {}).get('cfg')
    if not isinstance(cfg_text, str):
        raise CheckpointError(f'{path!r} has no meta.cfg: not an mmengine training checkpoint')
    backbone = dict(Config.fromstring(cfg_text, '.py').model.backbone)
    if backbone.get('subnet') is None:
        raise CheckpointError(f'{path!r}: its backbone is not a fixed-mode SlimmableResNet')
    spec_net = fixed_network(backbone)
    sd = {k[len('backbone.'):]: v for k, v in ckpt['state_dict'].items()
          if k.startswith('backbone.')}
    spec_net.load_state_dict(sd, strict=True)
    supernet_cfg = {k: v for k, v in backbone.items() if k not in ('subnet', 'type')}
    summary = subnet_summary(SlimmableResNet(**supernet_cfg), spec_net.fixed_spec)
    return spec_net, summary


def evaluate(net, train, test, args, bar):
    if net is None:  # the floor: raw pixels
        ftr, ltr = raw_pixels(train.batches(args.batch_size))
        fte, lte = raw_pixels(test.batches(args.batch_size))
    else:
        ftr, ltr = extract_features(net, train.batches(args.batch_size), bar)
        fte, lte = extract_features(net, test.batches(args.batch_size), bar)
    out = dict(knn_top1=knn_top1(ftr, ltr, fte, lte, k=args.k))
    if args.probe == 'sgd':
        out['linear_top1'] = linear_probe_top1(ftr, ltr, fte, lte, epochs=args.linear_epochs)
    else:
        probe = linear_probe(ftr, ltr, fte, lte)
        out.update(linear_top1=probe['top1'], linear_train_top1=probe['train_top1'],
                   linear_l2=probe['l2'])
    return out


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        train = ImageSet(cfg, False, args.train_subset)
        test = ImageSet(cfg, True, args.test_subset)
        supernet, _ = load_supernet(args.checkpoint, args.config)
        names = args.subnets.split(',') if args.subnets else list(supernet.subnets)
        for name in names:
            supernet.resolve(name)  # unknown names fail before any work
        baselines = dict(b.split('=', 1) for b in args.baseline)
        fractions = [float(f) for f in args.semi.split(',')] if args.semi else []
        for f in fractions:
            balanced_subset(torch.tensor([0]), f)  # validates the range
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1

    passes = (len(names) * (1 + args.random_init) + len(baselines)) * (len(train) + len(test))
    bar = ProgressBar(passes)
    progress = bar.update
    rows = []
    for name in names:
        summary = subnet_summary(supernet, name)
        net = fixed_network(supernet.fixed_config(name), supernet.subnet_state_dict(name))
        row = dict(name=name, method='DSPNet', **summary, **evaluate(net, train, test, args,
                                                                    lambda n: progress(n)))
        if args.random_init:
            torch.manual_seed(0)
            rand = fixed_network(supernet.fixed_config(name))
            rand.init_weights()
            row['knn_top1_random_init'] = evaluate(rand, train, test, args,
                                                   lambda n: progress(n))['knn_top1']
        rows.append(row)
    for name, path in baselines.items():
        net, summary = load_baseline(path)
        rows.append(dict(name=name, method='one-by-one', **summary,
                         **evaluate(net, train, test, args, lambda n: progress(n))))
    if fractions:
        xtr, ytr = train.tensors()
        for row in rows:
            for f in fractions:
                idx = balanced_subset(ytr, f)
                if row['method'] == 'DSPNet':
                    net = fixed_network(supernet.fixed_config(row['name']),
                                        supernet.subnet_state_dict(row['name']))
                else:
                    net = load_baseline(baselines[row['name']])[0]
                row[f'semi_{f:g}_top1'] = finetune_top1(net, xtr[idx], ytr[idx],
                                                        test.batches(args.batch_size),
                                                        epochs=args.semi_epochs)
    rows.append(dict(name='raw pixels', method='floor', spec=None, flops=0, params=0,
                     **evaluate(None, train, test, args, None)))
    print()
    write_outputs(rows, args.out_dir)
    return 0


def write_outputs(rows, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'results.json'), 'w') as f:
        json.dump(rows, f, indent=1)
    extra = sorted({k for r in rows for k in r
                    if k.startswith(('semi_', 'knn_top1_random', 'linear_train'))})
    head = ['DN', 'method', 'widths', 'depths', 'MFLOPs', 'Mparams', 'k-NN top-1',
            'linear top-1'] + extra
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        shape = ([str(r['spec']['widths']), str(r['spec']['depths']),
                  f"{r['flops'] / 1e6:.1f}", f"{r['params'] / 1e6:.3f}"] if r['spec'] else
                 ['-'] * 4)
        cells = [r['name'], r['method'], *shape, f"{r['knn_top1']:.2f}",
                 f"{r['linear_top1']:.2f}"]
        cells += [f"{r[k]:.2f}" if k in r else '' for k in extra]
        lines.append('| ' + ' | '.join(cells) + ' |')
    table = '\n'.join(lines)
    with open(os.path.join(out_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    print(table)
    plot(rows, os.path.join(out_dir, 'accuracy_vs_flops.png'))


def plot(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, marker in (('DSPNet', 'o-'), ('one-by-one', 's')):
        pts = sorted((r['flops'] / 1e6, r['knn_top1'], r['name']) for r in rows
                     if r['method'] == method)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker, label=method)
            for x, y, n in pts:
                ax.annotate(n, (x, y), fontsize=7, textcoords='offset points', xytext=(3, 3))
    for r in rows:
        if r['method'] == 'floor':
            ax.axhline(r['knn_top1'], color='grey', ls='--', label='raw pixels (floor)')
    ax.set_xlabel('MFLOPs (one image)')
    ax.set_ylabel('k-NN top-1 (%)')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == '__main__':
    sys.exit(main())
