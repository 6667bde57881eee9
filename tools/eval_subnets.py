"""Evaluate every desired network of a DSPNet checkpoint (and optional one-by-one baselines).

    python tools/eval_subnets.py work_dirs/dspnet_r18_fmnist/iter_1600.pth \
        --config configs/dspnet_r18_fmnist.py --out-dir work_dirs/eval [--random-init] \
        [--baseline r18_w05=work_dirs/byol_r18_w05/iter_1600.pth] [--semi 0.01,0.1] \
        [--labels 0.01,0.1 [--label-draws 5]] [--metric knn_top1_labels0.01]

For each DN: weighted k-NN top-1 (cosine, k=20, T=0.07) and linear-probe top-1 (converged
L-BFGS softmax regression, L2 chosen on 10% of the training set; its train top-1 too) on frozen
features, FLOPs and params (and fine-tuning top-1 with 1%/10% of the labels with --semi).
With --labels, the same where labels are scarce: the k-NN bank reduced to a class-balanced
subset of the training labels and the probe fitted on it, over 5 draws that every row shares
(mean ± std; columns knn_top1_labels0.01, linear_top1_labels0.01, ...). The floor, raw pixels
under the same protocol, is a row of its own. Writes results.json, results.md and
accuracy_vs_flops.png (--metric against FLOPs) to --out-dir (see
``dspnet_mm.apis.subnet_evaluation``).
"""
import sys

import dspnet_mm  # noqa: F401
from dspnet_mm.apis import cli
from dspnet_mm.apis.subnet_evaluation import (EvalSettings, evaluate_subnets, feature_passes,
                                              parse_baselines, parse_fractions,
                                              prepare_evaluation, results_table)
from dspnet_mm.apis.train_config import CfgOptionsAction


def parse_args(argv=None):
    p = cli.ArgumentParser(description='k-NN / linear / semi-supervised evaluation of every '
                           'desired network')
    p.add_argument('checkpoint')
    p.add_argument('--config', required=True, help='the pretraining config')
    p.add_argument('--subnets', help='comma-separated DN names (default: all)')
    p.add_argument('--baseline', action='append', default=[], metavar='NAME=CKPT',
                   help='a network pretrained alone (BYOL config of one DN) to compare')
    p.add_argument('--random-init', action='store_true',
                   help='also evaluate each DN with random weights (reference)')
    p.add_argument('--train-subset', type=int, help='use the first N training images')
    p.add_argument('--test-subset', type=int, help='use the first N test images')
    p.add_argument('--k', type=int, default=20, help='neighbours of the k-NN classifier')
    p.add_argument('--probe', choices=['lbfgs', 'sgd'], default='lbfgs',
                   help='lbfgs: converged softmax regression, L2 chosen on a train split '
                   '(default); sgd: the earlier underfit probe, --linear-epochs full-batch '
                   'epochs')
    p.add_argument('--linear-epochs', type=int, default=100)
    p.add_argument('--semi', help='label fractions for fine-tuning, e.g. 0.01,0.1')
    p.add_argument('--semi-epochs', type=int, default=10)
    p.add_argument('--labels', help='label fractions for k-NN and the probe with scarce '
                   'labels, e.g. 0.01,0.1 (class-balanced subsets of the training labels)')
    p.add_argument('--label-draws', type=int, default=5,
                   help='subsets drawn per --labels fraction, shared by every row (5)')
    p.add_argument('--metric', default='knn_top1',
                   help='the column plotted against FLOPs (default knn_top1; e.g. '
                   'linear_top1, knn_top1_labels0.01)')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--out-dir', default='work_dirs/eval_subnets')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override settings of the config, e.g. the dataset folder')
    return p.parse_args(argv)


def work(args):
    settings = EvalSettings(k=args.k, probe=args.probe, linear_epochs=args.linear_epochs,
                            batch_size=args.batch_size, semi=parse_fractions(args.semi),
                            semi_epochs=args.semi_epochs, random_init=args.random_init,
                            train_subset=args.train_subset, test_subset=args.test_subset,
                            labels=parse_fractions(args.labels, '--labels'),
                            label_draws=args.label_draws, metric=args.metric)
    subnets = [s for s in args.subnets.split(',') if s] if args.subnets is not None else None
    if subnets == []:
        raise cli.UsageError('--subnets is empty; give DN names, e.g. --subnets r18_w1,r18_w05')
    baselines = parse_baselines(args.baseline)
    cli.writable_dir('--out-dir', args.out_dir)
    ev = prepare_evaluation(args.checkpoint, args.config, subnets, baselines, settings,
                            args.cfg_options)
    bar = cli.progress_bar(feature_passes(ev))
    rows = evaluate_subnets(ev, args.out_dir, bar.update)
    print()
    print(results_table(rows))
    print(f'written to {args.out_dir}/results.{{json,md}} and accuracy_vs_flops.png')


def main(argv=None):
    args = parse_args(argv)
    return cli.run(work, args)


if __name__ == '__main__':
    sys.exit(main())
