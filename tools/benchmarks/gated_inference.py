"""Batch-1 CPU latency of a GatedResNet's gated branch: sparse (only active channels) vs dense
x mask, at a chosen channel density (the same density in every block, real gate cost kept).

    python tools/benchmarks/gated_inference.py [--depth 18] [--size 32] [--small-input]
        [--densities 1.0 0.75 0.5 0.25] [--threads 1] [--repeats 30]

Prints one line per density: FLOPs kept (exact, from the masks) and the median latencies.
The two variants alternate run by run, so both see the same machine load.
"""
import argparse
import sys
import time

import torch

from dspnet_mm.models import GatedResNet


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--depth', type=int, default=18)
    p.add_argument('--size', type=int, default=32, help='input height and width')
    p.add_argument('--small-input', action='store_true', help='3x3 stride-1 stem (CIFAR)')
    p.add_argument('--base-channels', type=int, default=64)
    p.add_argument('--densities', type=float, nargs='+', default=[1.0, 0.75, 0.5, 0.25])
    p.add_argument('--threads', type=int, default=1,
                   help='intra-op threads (1: stable timings on a shared machine)')
    p.add_argument('--repeats', type=int, default=30)
    return p.parse_args(argv)


def set_density(net: GatedResNet, density: float, seed: int = 0):
    """Make every gate keep the same ``density`` of its channels for any image: hidden units
    strictly positive, output weights positive for kept channels and negative otherwise."""
    g = torch.Generator().manual_seed(seed)
    for blk in net.gated_blocks:
        w = blk.gate.expand.weight.data.abs() + 1e-3
        keep = torch.zeros(w.size(0), dtype=torch.bool)
        keep[torch.randperm(w.size(0), generator=g)[:round(density * w.size(0))]] = True
        w[~keep] *= -1
        blk.gate.expand.weight.data = w
        blk.gate.bn.bias.data.fill_(5.)


@torch.no_grad()
def median_ms(net, x, repeats: int, **variants) -> dict:
    """Median latency (ms) of each ``name=(gated, sparse)`` variant, run alternately."""
    times = {name: [] for name in variants}
    for i in range(repeats + 3):
        for name, (gated, sparse) in variants.items():
            net.set_sparse_inference(sparse)
            t = time.perf_counter()
            net(x, gated=gated)
            if i >= 3:  # warm-up
                times[name].append(time.perf_counter() - t)
    return {name: 1000 * sorted(t)[len(t) // 2] for name, t in times.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    net = GatedResNet(args.depth, base_channels=args.base_channels,
                      stem_channels=args.base_channels, small_input=args.small_input).eval()
    x = torch.randn(1, 3, args.size, args.size)
    table = net.flops(x.shape[1:])
    print(f'ResNet-{args.depth}, input {args.size}x{args.size}, batch 1, {args.threads} '
          f'threads; dense network {table.dense / 1e6:.1f} MFLOPs')
    dense_ms = median_ms(net, x, args.repeats, dense=(False, False))['dense']
    print(f'dense branch: {dense_ms:.2f} ms')
    print('density  FLOPs kept  dense x mask (ms)  sparse (ms)  speed-up')
    for density in args.densities:
        set_density(net, density)
        with torch.no_grad():
            _, masks = net.forward_gated(x)
        kept = table.kept(masks).item()
        ms = median_ms(net, x, args.repeats, masked=(True, False), sparse=(True, True))
        print(f'{density:7.2f}  {kept:10.3f}  {ms["masked"]:17.2f}  {ms["sparse"]:11.2f}  '
              f'{ms["masked"] / ms["sparse"]:7.2f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
