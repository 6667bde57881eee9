"""DSPNet vs "pretrained one by one" on Fashion-MNIST: the paper's main table in miniature.

Trains DSPNet once (configs/dspnet_r18_fmnist.py) and plain BYOL separately for each of its
desired networks (configs/byol_r18_fmnist.py, same data, views and schedule), evaluates every
network with tools/eval_subnets.py (k-NN and linear probe on frozen features, whole test set),
and records each run's wall time.

    python tools/benchmarks/fmnist_dspnet.py            # full: about an hour on 2 cores
    python tools/benchmarks/fmnist_dspnet.py --quick    # a smoke run: 2 DNs, few iterations

Writes <out-dir>/fmnist_dspnet.{json,md} and fmnist_dspnet.png (accuracy vs FLOPs).
"""
import argparse
import os
import sys

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import REPO, train
from dspnet_mm.apis.report import markdown_table, write_json, write_text
from dspnet_mm.apis.subnet_evaluation import (EvalSettings, evaluate_subnets,
                                              prepare_evaluation)

DSPNET_CFG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')
BYOL_CFG = os.path.join(REPO, 'configs', 'byol_r18_fmnist.py')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--out-dir', default=os.path.join(REPO, 'docs', 'results'))
    p.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs', 'fmnist_dspnet'))
    p.add_argument('--data', default=os.path.join(REPO, 'data', 'fashion_mnist'))
    p.add_argument('--probe', choices=['lbfgs', 'sgd'], default='lbfgs',
                   help="the linear probe of tools/eval_subnets.py ('sgd': the earlier one)")
    args = p.parse_args(argv)

    options = [f'train_dataloader.dataset.data_prefix={args.data}']
    settings = EvalSettings(probe=args.probe, random_init=True)
    subnets = None
    if args.quick:
        options += ['train_cfg.max_iters=3', 'train_dataloader.batch_size=16',
                    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                    'train_dataloader.dataset.indices=256']
        subnets = ['r18_w1', 'r18_w025']
        settings.train_subset, settings.test_subset, settings.linear_epochs = 500, 200, 10

    runs = {}
    seconds, dspnet_ckpt = train(DSPNET_CFG, os.path.join(args.work_dir, 'dspnet'), options)
    runs['DSPNet'] = seconds
    from mmengine.config import Config
    names = subnets or list(Config.fromfile(DSPNET_CFG).model.backbone.subnets)
    baselines = {}
    for name in names:
        seconds, ckpt = train(BYOL_CFG, os.path.join(args.work_dir, f'byol_{name}'),
                              options + [f'model.backbone.subnet={name}'])
        runs[f'BYOL {name}'] = seconds
        baselines[name] = ckpt

    eval_dir = os.path.join(args.work_dir, 'eval')
    ev = prepare_evaluation(dspnet_ckpt, DSPNET_CFG, subnets, baselines, settings,
                            {'train_dataloader.dataset.data_prefix': args.data})
    rows = evaluate_subnets(ev, eval_dir)
    report = summarise(rows, runs, names, args.quick)
    write(report, args.out_dir, eval_dir)
    return report


def summarise(rows, runs, names, quick):
    ours = {r['name']: r for r in rows if r['method'] == 'DSPNet'}
    alone = {r['name']: r for r in rows if r['method'] == 'one-by-one'}
    table = []
    for n in names:
        a, b = ours[n], alone[n]
        table.append(dict(
            dn=n, widths=a['spec']['widths'], depths=a['spec']['depths'], flops=a['flops'],
            params=a['params'], dspnet_knn=a['knn_top1'], dspnet_linear=a['linear_top1'],
            alone_knn=b['knn_top1'], alone_linear=b['linear_top1'],
            random_init_knn=a['knn_top1_random_init'],
            diff_knn=round(a['knn_top1'] - b['knn_top1'], 2),
            diff_linear=round(a['linear_top1'] - b['linear_top1'], 2)))
    one_by_one = sum(v for k, v in runs.items() if k.startswith('BYOL'))
    return dict(benchmark='fmnist_dspnet', quick=quick, table=table,
                wall_seconds=runs, one_by_one_total_seconds=round(one_by_one, 1),
                dspnet_over_one_by_one_time=round(runs['DSPNet'] / one_by_one, 3),
                targets=dict(per_dn='DSPNet within 0.5 points of one-by-one or better',
                             time='DSPNet <= 60% of the one-by-one total'))


def write(report, out_dir, eval_dir):
    write_json(os.path.join(out_dir, 'fmnist_dspnet.json'), report)
    head = ['DN', 'widths', 'depths', 'MFLOPs', 'Mparams', 'k-NN DSPNet', 'k-NN alone',
            'diff', 'linear DSPNet', 'linear alone', 'diff', 'k-NN random weights']
    lines = [markdown_table(head, [[
        r['dn'], r['widths'], r['depths'], f"{r['flops'] / 1e6:.1f}",
        f"{r['params'] / 1e6:.3f}", f"{r['dspnet_knn']:.2f}", f"{r['alone_knn']:.2f}",
        f"{r['diff_knn']:+.2f}", f"{r['dspnet_linear']:.2f}", f"{r['alone_linear']:.2f}",
        f"{r['diff_linear']:+.2f}", f"{r['random_init_knn']:.2f}"] for r in report['table']]),
        '']
    lines.append(f"Wall time: DSPNet {report['wall_seconds']['DSPNet']:.0f} s; one-by-one BYOL "
                 f"total {report['one_by_one_total_seconds']:.0f} s; ratio "
                 f"{report['dspnet_over_one_by_one_time']:.3f}.")
    write_text(os.path.join(out_dir, 'fmnist_dspnet.md'), '\n'.join(lines) + '\n')
    os.replace(os.path.join(eval_dir, 'accuracy_vs_flops.png'),
               os.path.join(out_dir, 'fmnist_dspnet.png'))
    print('\n'.join(lines))


if __name__ == '__main__':
    sys.exit(cli.script(main))
