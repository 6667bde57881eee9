"""Dynamic-gating VICReg on Fashion-MNIST: the BMVC 2023 paper's Table 1 in miniature.

Trains VICReg (dense baseline), VICReg-Gating (single gated stream) and VICReg-Dual-Gating
(dense + gated branches, dual BN) at FLOPs budgets t_d = 0.1, 0.3, 0.5 with the configs
configs/{vicreg,vicreg-gating,vicreg-dual-gating}_r18_fmnist.py, then evaluates every network
on frozen features (weighted k-NN, k=20, and the converged L-BFGS linear probe with its L2
chosen on 10 % of the train split; whole train split as the memory bank / training set, whole
test split as queries) next to the floor, raw pixels under the same protocol, and measures the FLOPs the gated networks
keep on the test split (gated branch, deterministic gates), counted as the reference code counts
them (conv multiply-accumulates, gates' 1x1 convs on the gated side: the paper's "FLOPs R.")
and, beside it, with mmengine's fuller count (BN and pooling too).

    python tools/benchmarks/fmnist_gating.py            # full
    python tools/benchmarks/fmnist_gating.py --quick    # a smoke run: t_d 0.3, few iterations
    python tools/benchmarks/fmnist_gating.py --reuse    # evaluate again the checkpoints of an
                                                        # earlier full run in --work-dir

Writes <out-dir>/fmnist_gating.{json,md} and fmnist_gating_density.png (mean channel density
of every gated block of the dual-gating networks, one bar group per budget).
"""
import argparse
import json
import os
import sys

from mmengine.config import Config
from mmengine.registry import DefaultScope

from dspnet_mm.apis import backbone_state_dict, cli, load_checkpoint_safely
from dspnet_mm.apis import gating_analysis as analyze_gating
from dspnet_mm.apis.backbone import load_weights
from dspnet_mm.apis.benchmark import REPO, machine, resolve_device, train
from dspnet_mm.apis.evaluation import (ImageSet, extract_features, knn_top1, linear_probe,
                                       linear_probe_top1, raw_pixels)
from dspnet_mm.apis.report import markdown_table, write_json, write_text
from dspnet_mm.registry import MODELS

CONFIGS = {m: os.path.join(REPO, 'configs', f'{m}_r18_fmnist.py')
           for m in ('vicreg', 'vicreg-gating', 'vicreg-dual-gating')}


def dense_backbone(checkpoint: str, cfg: Config):
    """The VICReg checkpoint's backbone (a stock mmcls ResNet), in eval mode."""
    backbone_cfg = dict(cfg.model.backbone)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        net = MODELS.build(backbone_cfg)
    load_weights(net, backbone_state_dict(load_checkpoint_safely(checkpoint)), checkpoint,
                 type(net).__name__)
    net.eval()  # (mmcls' ResNet.train returns None)
    return net


def accuracies(train_feats, train_y, test_feats, test_y, linear_epochs, probe='lbfgs'):
    """k-NN and linear-probe top-1 (%); with the L-BFGS probe also its train top-1 and L2."""
    out = dict(knn=knn_top1(train_feats, train_y, test_feats, test_y, k=20))
    if probe == 'sgd':
        out['linear'] = linear_probe_top1(train_feats, train_y, test_feats, test_y,
                                          epochs=linear_epochs)
    else:
        fit = linear_probe(train_feats, train_y, test_feats, test_y)
        out.update(linear=fit['top1'], linear_train=fit['train_top1'], linear_l2=fit['l2'])
    return out


def floor(train_set, test_set, args):
    """Raw pixels under the same protocol: what a network must beat to have learnt anything."""
    return accuracies(*raw_pixels(train_set.batches(args.batch_size)),
                      *raw_pixels(test_set.batches(args.batch_size)), args.linear_epochs,
                      args.probe)


def trained_checkpoint(work_dir: str, config: str, options):
    """The final checkpoint of an earlier run of ``config`` + ``options`` in ``work_dir``, or
    None (a run stopped early left no final checkpoint)."""
    iters = Config.fromfile(config).train_cfg.max_iters
    for o in options:
        if o.startswith('train_cfg.max_iters='):
            iters = int(o.split('=', 1)[1])
    path = os.path.join(work_dir, f'iter_{iters}.pth')
    return path if os.path.isfile(path) else None


def evaluate(method, checkpoint, cfg, train_set, test_set, args):
    """Accuracies of the method's networks (dense and/or gated) and the gated FLOPs."""
    if method == 'vicreg':
        net = dense_backbone(checkpoint, cfg)
        batches = [extract_features(net, s.batches(args.batch_size))
                   for s in (train_set, test_set)]
        return dict(dense=accuracies(*batches[0], *batches[1], args.linear_epochs, args.probe))
    net = analyze_gating.load_gated_backbone(checkpoint, cfg)
    stats = analyze_gating.gated_statistics(net, test_set, args.batch_size)
    tr_dense, tr_gated, tr_y = analyze_gating.features(net, train_set, args.batch_size)
    te_dense, te_gated, te_y = analyze_gating.features(net, test_set, args.batch_size)
    out = dict(gated=accuracies(tr_gated, tr_y, te_gated, te_y, args.linear_epochs, args.probe),
               flops_kept=stats['flops_kept'], flops_reduction=stats['flops_reduction'],
               dense_mflops=stats['dense_mflops'], gated_mflops=stats['gated_mflops'],
               flops_convention=stats['flops_convention'],
               mmengine_count=stats['mmengine_count'], density=stats['density'])
    if method == 'vicreg-dual-gating':  # the single-stream baseline has no dense branch
        out['dense'] = accuracies(tr_dense, tr_y, te_dense, te_y, args.linear_epochs,
                                  args.probe)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--budgets', default='0.1,0.3,0.5', help='t_d values (full mode)')
    p.add_argument('--out-dir', default=os.path.join(REPO, 'docs', 'results'))
    p.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs', 'fmnist_gating'))
    p.add_argument('--data', default=os.path.join(REPO, 'data', 'fashion_mnist'))
    p.add_argument('--batch-size', type=int, default=512, help='evaluation batch size')
    p.add_argument('--linear-epochs', type=int, default=100, help="epochs of --probe sgd")
    p.add_argument('--probe', choices=['lbfgs', 'sgd'], default='lbfgs',
                   help="linear probe: converged L-BFGS (default) or the earlier 100-epoch SGD")
    p.add_argument('--device', default='cpu', help="where the runs train: 'cpu' or 'cuda'")
    p.add_argument('--reuse', action='store_true',
                   help='skip training a run whose final checkpoint is already in --work-dir '
                        '(its train seconds are taken from --out-dir/fmnist_gating.json)')
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    for name in ('batch_size', 'linear_epochs'):
        cli.positive(f"--{name.replace('_', '-')}", getattr(args, name), allow_none=False)

    try:
        budgets = [float(b) for b in args.budgets.split(',')]
    except ValueError:
        raise cli.UsageError(f'--budgets {args.budgets!r} must be comma-separated numbers in '
                             '(0, 1], e.g. 0.1,0.3,0.5') from None
    if any(not 0 < b <= 1 for b in budgets):
        raise cli.UsageError(f'--budgets {args.budgets}: every t_d must be in (0, 1]')
    if not os.path.isdir(args.data):
        raise cli.UsageError(f'--data {args.data!r} does not exist; run '
                             'tools/prepare_fashion_mnist.py first')
    options = [f'train_dataloader.dataset.data_prefix={args.data}']
    train_subset = test_subset = None
    if args.quick:
        budgets = [0.3]
        options += ['train_cfg.max_iters=3', 'train_dataloader.batch_size=16',
                    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                    'train_dataloader.dataset.indices=256']
        train_subset, test_subset, args.linear_epochs = 500, 200, 10

    runs = [('vicreg', None)] + [(m, t) for m in ('vicreg-gating', 'vicreg-dual-gating')
                                 for t in budgets]
    cfg = Config.fromfile(CONFIGS['vicreg'])
    cfg.merge_from_dict({'train_dataloader.dataset.data_prefix': args.data})
    train_set = ImageSet(cfg, False, train_subset)
    test_set = ImageSet(cfg, True, test_subset)
    earlier = {}
    if args.reuse and os.path.isfile(os.path.join(args.out_dir, 'fmnist_gating.json')):
        with open(os.path.join(args.out_dir, 'fmnist_gating.json')) as f:
            earlier = {(r['method'], r['t_d']): r['train_seconds'] for r in json.load(f)['rows']}
    rows = []
    for method, t_d in runs:
        name = method if t_d is None else f'{method}_td{t_d:g}'
        extra = [] if t_d is None else [f'model.sparsity_loss.t_d={t_d}']
        work = os.path.join(args.work_dir, name)
        ckpt = trained_checkpoint(work, CONFIGS[method], options) if args.reuse else None
        if ckpt is None:
            seconds, ckpt = train(CONFIGS[method], work, options + extra, device=device)
        else:
            seconds = earlier.get((method, t_d), float('nan'))
        run_cfg = Config.fromfile(CONFIGS[method])
        run_cfg.merge_from_dict({'train_dataloader.dataset.data_prefix': args.data})
        if t_d is not None:
            run_cfg.model.sparsity_loss.t_d = t_d
        row = dict(method=method, t_d=t_d, train_seconds=round(seconds, 1),
                   **evaluate(method, ckpt, run_cfg, train_set, test_set, args))
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != 'density'}), flush=True)
    report = summarise(rows, args.quick, len(train_set), len(test_set),
                       floor(train_set, test_set, args), args.probe)
    report['machine'] = machine(device)
    write(report, args.out_dir)
    return report


def summarise(rows, quick, train_images, test_images, floor_scores, probe='lbfgs'):
    gating = {r['t_d']: r for r in rows if r['method'] == 'vicreg-gating'}
    targets = []
    for r in rows:
        for branch in ('dense', 'gated'):
            if branch in r:
                r[branch]['minus_floor'] = {m: round(r[branch][m] - floor_scores[m], 2)
                                            for m in ('knn', 'linear')}
    for r in rows:
        if r['method'] != 'vicreg-dual-gating':
            continue
        base = gating[r['t_d']]
        targets.append(dict(
            t_d=r['t_d'],
            gated_knn_minus_baseline=round(r['gated']['knn'] - base['gated']['knn'], 2),
            gated_linear_minus_baseline=round(r['gated']['linear'] - base['gated']['linear'],
                                              2),
            at_or_above_baseline=r['gated']['linear'] >= base['gated']['linear'],
            flops_reduction_minus_target=round(100 * (r['flops_reduction'] - (1 - r['t_d'])),
                                               1),
            reduction_within_5_points=abs(r['flops_reduction'] - (1 - r['t_d'])) <= 0.05))
    margins = [r[b]['minus_floor'][m] for r in rows for b in ('dense', 'gated') if b in r
               for m in ('knn', 'linear')]
    return dict(benchmark='fmnist_gating', quick=quick, train_images=train_images,
                test_images=test_images, probe=probe, rows=rows, floor=floor_scores,
                above_floor=dict(all=min(margins) > 0, min_margin=min(margins),
                                 max_margin=max(margins)),
                targets=targets,
                target_text=dict(
                    accuracy="dual gating's gated branch at or above the single-stream gated "
                             'baseline at each budget (linear top-1)',
                    flops='FLOPs reduction of the gated branch within 5 points of 1 - t_d'))


def write(report, out_dir):
    write_json(os.path.join(out_dir, 'fmnist_gating.json'), report)
    head = ['method', 't_d', 'dense k-NN', 'dense linear', 'gated k-NN', 'gated linear',
            'FLOPs kept', 'FLOPs R.', 'FLOPs R. (mmengine count)', 'train s']

    def acc(r, branch, key):
        return f"{r[branch][key]:.2f}" if branch in r else '-'

    lines = [markdown_table(head, [[
            r['method'], '-' if r['t_d'] is None else f"{r['t_d']:g}",
            acc(r, 'dense', 'knn'), acc(r, 'dense', 'linear'), acc(r, 'gated', 'knn'),
            acc(r, 'gated', 'linear'),
            f"{100 * r['flops_kept']:.1f}%" if 'flops_kept' in r else '100%',
            f"{100 * r['flops_reduction']:.1f}%" if 'flops_reduction' in r else '0%',
            f"{100 * r['mmengine_count']['flops_reduction']:.1f}%" if 'mmengine_count' in r
            else '0%',
            f"{r['train_seconds']:.0f}"] for r in report['rows']] + [[
            '**raw pixels (floor)**', '-', f"{report['floor']['knn']:.2f}",
            f"{report['floor']['linear']:.2f}", '', '', '', '', '', '']])]
    probe = ('converged L-BFGS probe' if report.get('probe', 'lbfgs') == 'lbfgs' else
             '100-epoch SGD probe')
    lines += ['', f"k-NN (k=20) and linear probe ({probe}) on frozen features: "
              f"{report['train_images']} "
              f"train / {report['test_images']} test images; FLOPs on the test split, conv "
              "multiply-accumulates and the gates' 1x1 convs as the reference counts them "
              "(FLOPs kept, FLOPs R.) and mmengine's count with BN and pooling."]
    for t in report['targets']:
        lines.append(f"- t_d {t['t_d']:g}: dual gated - gating baseline = "
                     f"{t['gated_linear_minus_baseline']:+.2f} linear, "
                     f"{t['gated_knn_minus_baseline']:+.2f} k-NN; FLOPs reduction - (1 - t_d) "
                     f"= {t['flops_reduction_minus_target']:+.1f} points")
    a = report['above_floor']
    lines.append(f"- vs the raw-pixel floor: every branch {'above' if a['all'] else 'NOT above'}"
                 f" it on both metrics; margins from {a['min_margin']:+.2f} to "
                 f"{a['max_margin']:+.2f} points")
    write_text(os.path.join(out_dir, 'fmnist_gating.md'), '\n'.join(lines) + '\n')
    plot_density([r for r in report['rows'] if r['method'] == 'vicreg-dual-gating'],
                 os.path.join(out_dir, 'fmnist_gating_density.png'))
    print('\n'.join(lines))


def plot_density(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    blocks = list(rows[0]['density'])
    width = 0.8 / len(rows)
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(blocks)), 3.5))
    for i, r in enumerate(rows):
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(blocks))]
        ax.bar(xs, [r['density'][b] for b in blocks], width, label=f"t_d = {r['t_d']:g}")
    ax.set_xticks(range(len(blocks)))
    ax.set_xticklabels(blocks, rotation=60, ha='right', fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel('mean channel density')
    ax.set_title('VICReg-Dual-Gating, gated branch: channels computed per block')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == '__main__':
    sys.exit(cli.script(main))
