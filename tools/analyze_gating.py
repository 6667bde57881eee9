"""Analyse the gated branch of a dynamic-gating checkpoint (VICRegGating / VICRegDualGating).

    python tools/analyze_gating.py work_dirs/vicreg-dual-gating_r18_fmnist/iter_400.pth \
        --config configs/vicreg-dual-gating_r18_fmnist.py --out-dir work_dirs/gating \
        [--knn] [--embedding-plot umap|pca] [--benchmark]

Over a split of the config's dataset (gated branch, eval mode, deterministic gates) it reports
the mean fraction of the dense network's FLOPs kept and the reduction (the paper's "FLOPs R."
column, 1 - kept) counted as the reference code counts them (conv multiply-accumulates, the
gates' 1x1 convs on the gated side: ``flops_kept``, ``flops_reduction``), the same with
mmengine's fuller count beside it (BN and pooling too: ``mmengine_count``), and the mean
channel density of every gated block (the paper's Figure 1,
``channel_density.png``). Options: ``--knn`` weighted k-NN top-1 of the dense and of the gated
features (train split as the memory bank), ``--embedding-plot`` a 2-D map of dense vs gated
embeddings of the same images (the paper's Figure 2; ``umap`` needs ``pip install umap-learn``),
``--benchmark`` batch-1 latency of the gated branch computed sparsely vs as dense x mask.
Everything is also written to ``results.json`` in ``--out-dir``.
"""
import os
import sys

from mmengine.config import Config

import dspnet_mm  # noqa: F401  (registers our modules)
from dspnet_mm.apis import cli
from dspnet_mm.apis.evaluation import ImageSet, knn_top1
from dspnet_mm.apis.gating_analysis import (batch_unions, benchmark, features, gated_statistics,
                                            load_gated_backbone, plot_density,
                                            plot_embeddings, report)
from dspnet_mm.apis.report import write_json
from dspnet_mm.apis.train_config import CfgOptionsAction

POSITIVE = ('num_images', 'batch_size', 'knn_train', 'knn_test', 'knn_k', 'embedding_images',
            'benchmark_images', 'benchmark_threads')


def parse_args(argv=None):
    p = cli.ArgumentParser(description='FLOPs kept, channel density, k-NN and embeddings '
                                'of a gated checkpoint')
    p.add_argument('checkpoint', help='a training checkpoint (mmengine) of a gated algorithm')
    p.add_argument('--config', required=True, help='the config it was trained with')
    p.add_argument('--split', choices=['test', 'train'], default='test',
                   help='split for FLOPs and density statistics')
    p.add_argument('--num-images', type=int, help='use the first N images of that split')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--out-dir', default=None, help='default: next to the checkpoint')
    p.add_argument('--knn', action='store_true', help='k-NN top-1 of dense and gated features')
    p.add_argument('--knn-train', type=int, default=10000, help='memory-bank images (train)')
    p.add_argument('--knn-test', type=int, default=2000, help='query images (test)')
    p.add_argument('--knn-k', type=int, default=20)
    p.add_argument('--embedding-plot', choices=['umap', 'pca'],
                   help='2-D map of dense vs gated embeddings of --embedding-images images')
    p.add_argument('--embedding-images', type=int, default=1000)
    p.add_argument('--benchmark', action='store_true',
                   help='batch-1 latency: sparse gated vs dense x mask vs dense')
    p.add_argument('--benchmark-images', type=int, default=50)
    p.add_argument('--benchmark-threads', type=int, default=1,
                   help='intra-op threads while timing (1: stable on a shared machine)')
    p.add_argument('--batch-unions', type=int, nargs='+', metavar='B',
                   help='FLOPs a batch of B images computes when they share the union of '
                        'their masks (sparse path, static capacities), against per image')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override settings of the config, e.g. the dataset folder')
    return p.parse_args(argv)


def work(args) -> int:
    for name in POSITIVE:  # every value is checked before any image is read
        cli.positive(f"--{name.replace('_', '-')}", getattr(args, name))
    for b in args.batch_unions or ():
        cli.positive('--batch-unions', b, allow_none=False)
    cli.existing_file('checkpoint', args.checkpoint)
    cli.existing_file('--config', args.config)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out_dir = args.out_dir or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                           'gating_analysis')
    cli.writable_dir('--out-dir', out_dir)
    backbone = load_gated_backbone(args.checkpoint, cfg)
    t_d = cfg.model.get('sparsity_loss', {}).get('t_d')

    split = ImageSet(cfg, test_mode=args.split == 'test', subset=args.num_images)
    results = dict(checkpoint=args.checkpoint, config=args.config, split=args.split, t_d=t_d)
    results.update(gated_statistics(backbone, split, args.batch_size))
    plot_density(results['density'], t_d, os.path.join(out_dir, 'channel_density.png'))

    if args.batch_unions:
        results['batch_unions'] = batch_unions(backbone, split, args.batch_unions)
    if args.knn:
        bank = ImageSet(cfg, test_mode=False, subset=args.knn_train)
        queries = ImageSet(cfg, test_mode=True, subset=args.knn_test)
        bank_dense, bank_gated, bank_y = features(backbone, bank, args.batch_size)
        q_dense, q_gated, q_y = features(backbone, queries, args.batch_size)
        results['knn'] = dict(
            k=args.knn_k, train_images=len(bank), test_images=len(queries),
            dense_top1=knn_top1(bank_dense, bank_y, q_dense, q_y, args.knn_k),
            gated_top1=knn_top1(bank_gated, bank_y, q_gated, q_y, args.knn_k))
    if args.embedding_plot:
        images = ImageSet(cfg, test_mode=True, subset=args.embedding_images)
        dense, gated, labels = features(backbone, images, args.batch_size)
        path = os.path.join(out_dir, f'embeddings_{args.embedding_plot}.png')
        plot_embeddings(dense, gated, labels, args.embedding_plot, path)
        results['embedding_plot'] = path
    if args.benchmark:
        images = ImageSet(cfg, test_mode=True, subset=args.benchmark_images)
        results['latency_batch1'] = benchmark(backbone, images, args.benchmark_images,
                                              args.benchmark_threads)

    write_json(os.path.join(out_dir, 'results.json'), results)
    print(report(results))
    print(f'wrote {out_dir}/results.json and channel_density.png')
    return 0


def main(argv=None) -> int:
    return cli.run(work, parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
