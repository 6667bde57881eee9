"""Every way to compute a GatedResNet's gated branch, timed side by side against the dense
network, to set the sparse path's device rules in ``models/backbones/gated_resnet.py``
(``SPARSE_MIN_MACS``) from measurements.

    python tools/benchmarks/gated_paths.py --device cuda > docs/results/gated_paths_cuda.json
    python tools/benchmarks/gated_paths.py --quick

Paths, per batch size, density and precision (fp32, bf16 autocast with ``--amp``):
``dense`` (gates off), ``masked`` (dense x mask, no host synchronisation), ``sparse_<G>g``
(only the kept channels, in the blocks whose dense conv1 + conv2 work on the batch is at
least G billion multiply-accumulates; the others dense x mask) and, on a GPU, ``dense_graph`` and
``masked_graph``: the same replayed as one CUDA graph (no launch cost; the sparse path's
shapes depend on the masks, so it cannot be captured). Every image keeps the same channels
(``set_gate_density``), the case the sparse path is for. Each row gives median ms and the
speed-up of each path over ``dense`` (interleaved repeats, one run).
"""
import argparse
import json
import sys

import torch

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (add_device_arguments, autocast, interleaved, machine,
                                      median_ms, ratio_stats, resolve_device, set_gate_density)
from dspnet_mm.models import GatedResNet
from dspnet_mm.models.backbones import gated_resnet


def cuda_graphed(fn, x):
    """``fn(x)`` captured once as a CUDA graph on a private copy of ``x``; returns the
    callable that replays it."""
    static = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn(static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn(static)
    return graph.replay


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='small input, few repeats')
    p.add_argument('--depth', type=int, default=18)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--densities', type=float, nargs='+', default=[0.3])
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8, 64])
    p.add_argument('--min-gmacs', type=float, nargs='+', default=[0, 4, 15, 30, 60],
                   help='thresholds of SPARSE_MIN_MACS to try, in billions')
    p.add_argument('--cudnn-benchmark', action='store_true',
                   help='let cuDNN time its algorithms per shape (mmengine env_cfg)')
    p.add_argument('--repeats', type=int, default=10)
    add_device_arguments(p)
    args = p.parse_args(argv)
    if any(not 0 < d <= 1 for d in args.densities):
        raise cli.UsageError(f'--densities {args.densities}: each must be in (0, 1]')
    for b in args.batch_sizes + [args.size, args.repeats]:
        cli.positive('--batch-sizes/--size/--repeats', b, allow_none=False)
    if any(g < 0 for g in args.min_gmacs):
        raise cli.UsageError(f'--min-gmacs {args.min_gmacs}: each must be >= 0')
    device = resolve_device(args.device)
    if args.quick:
        args.size, args.repeats, args.batch_sizes = 32, 2, [1, 4]
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    net = GatedResNet(args.depth).eval()
    kind = device.type
    saved = dict(gated_resnet.SPARSE_MIN_MACS)
    rows = []
    try:
        for batch in args.batch_sizes:
            x = torch.randn(batch, 3, args.size, args.size, device=device)
            for density in args.densities:
                set_gate_density(net.cpu(), density)
                net.to(device)

                def path(gated, sparse, gmacs=0.):
                    def fn(inp=x):
                        gated_resnet.SPARSE_MIN_MACS[kind] = gmacs * 1e9
                        net.set_sparse_inference(sparse)
                        with torch.no_grad(), autocast(device, args.amp):
                            return net(inp, gated=gated)
                    return fn

                paths = dict(dense=path(False, False), masked=path(True, False))
                for g in args.min_gmacs:
                    paths[f'sparse_{g:g}g'] = path(True, True, g)
                if kind == 'cuda':
                    paths['dense_graph'] = cuda_graphed(path(False, False), x)
                    paths['masked_graph'] = cuda_graphed(path(True, False), x)
                times = interleaved(paths, args.repeats, device=device)
                rows.append(dict(
                    batch=batch, density=density,
                    ms={k: median_ms(v) for k, v in times.items()},
                    speedup_over_dense={k: ratio_stats(times['dense'], v)
                                        for k, v in times.items() if k != 'dense'}))
    finally:
        gated_resnet.SPARSE_MIN_MACS.update(saved)
        net.set_sparse_inference(True)
    return dict(benchmark='gated_paths', quick=args.quick,
                network=f'ResNet-{args.depth}, input {args.size}x{args.size}',
                amp=args.amp, cudnn_benchmark=args.cudnn_benchmark, repeats=args.repeats,
                machine=machine(device), rows=rows)


if __name__ == '__main__':
    sys.exit(cli.script(lambda argv: print(json.dumps(main(argv), indent=1))))
