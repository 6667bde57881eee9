"""Inference time of a GatedResNet: the dense network, the gated branch computed as dense x
mask, and the fast gated path (only the active channels), at fixed channel densities, batch 1
and 32. The FLOPs ratio (dense / gated, gates included) is the limit of the speed-up.

    python tools/benchmarks/gated_inference.py > docs/results/gated_inference.json
    python tools/benchmarks/gated_inference.py --quick

Every block keeps the same fraction of its channels for every image (gates set so, real gate
cost kept). Prints one JSON object: per batch size and density the FLOPs kept, the median
times (interleaved repeats: dense, masked, fast, dense, ...), the fast path's speed-up over
dense with its spread, and that speed-up as a fraction of the FLOPs ratio. Target: at density
0.3 the fast path reaches at least half of the FLOPs ratio. ``--device cuda`` times on a GPU
(``--amp``: bf16 autocast). Beside the times, each path's ATen operators per forward (kernel
launches on a GPU) and, among them, the host synchronisations (``nonzero``, ``unique``,
``.item()``): CPU-measurable proxies of the GPU cost. On CUDA, two more paths: the gated
branch (which runs dense x mask there, see ``SPARSE_MIN_MACS``) and the dense network, each
replayed as a CUDA graph (``dspnet_mm.apis.CudaGraphed``), with their speed-ups over the
eager dense network. ``capped`` is the gated branch with static capacities
(``GatedResNet.set_capacities``, calibrated on the batch, multiples of ``--multiple``): no
host synchronisation inside, one overflow check per forward; on CUDA also as a CUDA graph
(``capped_graph``: the graph computes ``forward_capped``, the host reads its overflow flag
after the replay and computes the batch again eagerly if it is set). The issue's CUDA target:
a gated path at least 1.3x faster than the dense network at batch 64 and density 0.3
(``best_gated``). ``--profile`` adds, per row, where each eager path's time goes
(``torch.profiler``: host and kernel time, the top operators).
"""
import argparse
import json
import sys

import torch

from dspnet_mm.apis import CudaGraphed, cli
from dspnet_mm.apis.benchmark import (add_device_arguments, autocast, interleaved, launches,
                                      machine, median_ms, profiled, ratio_stats,
                                      resolve_device, set_gate_density)

from dspnet_mm.models import GatedResNet


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='small input, few repeats')
    p.add_argument('--depth', type=int, default=18)
    p.add_argument('--size', type=int, default=224, help='input height and width')
    p.add_argument('--base-channels', type=int, default=64)
    p.add_argument('--densities', type=float, nargs='+', default=[0.1, 0.3, 0.5])
    p.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--profile', action='store_true',
                   help='torch.profiler of each eager path: host vs kernel time')
    p.add_argument('--multiple', type=int, default=8,
                   help='capacities of the capped path are multiples of this')
    add_device_arguments(p)
    args = p.parse_args(argv)
    if any(not 0 < d <= 1 for d in args.densities):
        raise cli.UsageError(f'--densities {args.densities}: each must be in (0, 1]')
    for name in ('depth', 'size', 'base_channels', 'threads', 'repeats', 'multiple'):
        cli.positive(f"--{name.replace('_', '-')}", getattr(args, name), allow_none=False)
    for b in args.batch_sizes:
        cli.positive('--batch-sizes', b, allow_none=False)
    device = resolve_device(args.device)
    if args.quick:
        args.size, args.repeats, args.batch_sizes = 32, 2, [1, 4]
    torch.set_num_threads(args.threads)
    net = GatedResNet(args.depth, base_channels=args.base_channels,
                      stem_channels=args.base_channels).eval()
    table = net.flops((3, args.size, args.size))
    rows = []
    for batch in args.batch_sizes:
        x = torch.randn(batch, 3, args.size, args.size).to(device)
        for density in args.densities:
            set_gate_density(net.cpu(), density)
            net.to(device)
            net.set_capacities(None)
            with torch.no_grad():
                kept = table.kept(net.forward_gated(x)[1]).mean().item()
            caps = net.calibrate_capacities([x], args.multiple)

            def run(gated, sparse, capacities=None):
                def fn():
                    net.set_sparse_inference(sparse)
                    net.set_capacities(capacities)
                    with torch.no_grad(), autocast(device, args.amp):
                        net(x, gated=gated)
                return fn

            paths = dict(dense=run(False, False), masked=run(True, False), fast=run(True, True),
                         capped=run(True, True, caps))
            net.set_sparse_inference(True)
            with torch.no_grad(), autocast(device, args.amp):
                reference = net(x, gated=True)[0]
                net.set_capacities(caps)
                diff = dict(capped=(net(x, gated=True)[0] - reference).abs().max().item())
                net.set_capacities(None)
            if device.type == 'cuda':
                graphs = dict(graph=(True, None), dense_graph=(False, None),
                              capped_graph=(True, caps))
                for name, (gated, capacities) in graphs.items():
                    net.set_capacities(capacities)
                    graph = CudaGraphed(lambda inp, g=gated: net.forward_capped(inp, g), x,
                                        autocast_dtype=torch.bfloat16 if args.amp else None)
                    with torch.no_grad(), autocast(device, args.amp):  # same numbers
                        net.set_capacities(None)
                        diff[name] = (graph(x)[0][0] - net(x, gated=gated)[0]).abs().max().item()
                    paths[name] = lambda graph=graph, g=gated, c=capacities: replay(
                        net, graph, x, g, c)
            times = interleaved(paths, args.repeats, device=device)
            speedup = ratio_stats(times['dense'], times['fast'])
            gated_paths = [k for k in times if k not in ('dense', 'dense_graph')]
            best = min(gated_paths, key=lambda k: median_ms(times[k]))
            rows.append(dict(batch=batch, density=density, flops_kept=round(kept, 4),
                             flops_ratio=round(1 / kept, 3),
                             dense_ms=median_ms(times['dense']),
                             masked_ms=median_ms(times['masked']),
                             fast_ms=median_ms(times['fast']),
                             capped_ms=median_ms(times['capped']),
                             capacities=caps,
                             fast_speedup_over_dense=speedup,
                             fast_speedup_over_masked=ratio_stats(times['masked'],
                                                                  times['fast']),
                             capped_speedup_over_dense=ratio_stats(times['dense'],
                                                                   times['capped']),
                             fraction_of_limit=round(speedup['median'] * kept, 3),
                             best_gated=dict(path=best, speedup_over_dense=ratio_stats(
                                 times['dense'], times[best])),
                             max_abs_diff_from_eager=diff,
                             aten_ops={k: launches(fn) for k, fn in paths.items()
                                       if not k.endswith('graph')}))
            if args.profile:
                rows[-1]['profile'] = {k: profiled(fn, device, top=6) for k, fn in paths.items()
                                       if not k.endswith('graph')}
            if device.type == 'cuda':
                rows[-1]['best_gated']['speedup_over_dense_graph'] = ratio_stats(
                    times['dense_graph'], times[best])
                rows[-1].update(
                    {f'{k}_ms': median_ms(times[k]) for k in graphs},
                    graph_speedup_over_dense=ratio_stats(times['dense'], times['graph']),
                    graph_speedup_over_dense_graph=ratio_stats(times['dense_graph'],
                                                               times['graph']),
                    capped_graph_speedup_over_dense_graph=ratio_stats(
                        times['dense_graph'], times['capped_graph']))
    net.set_sparse_inference(True)
    net.set_capacities(None)
    target = {str(r['batch']): r['fraction_of_limit'] >= 0.5 for r in rows
              if abs(r['density'] - 0.3) < 1e-9}
    at_64 = [r['best_gated'] for r in rows if r['batch'] == 64 and abs(r['density'] - 0.3) < 1e-9]
    return dict(benchmark='gated_inference', quick=args.quick,
                network=f'ResNet-{args.depth}, base width {args.base_channels}, '
                        f'input {args.size}x{args.size}',
                dense_mflops=round(table.dense / 1e6, 2), repeats=args.repeats, amp=args.amp,
                machine=machine(device), rows=rows,
                target='fast speed-up over dense at density 0.3 >= half the FLOPs ratio',
                target_met_by_batch=target,
                gated_target='best gated path >= 1.3x the dense network at batch 64, density '
                             '0.3 (on CUDA)',
                gated_target_met=(at_64[0]['speedup_over_dense']['median'] >= 1.3
                                  if at_64 else None))


def replay(net, graph, x, gated, capacities):
    """One call of a captured ``forward_capped``: the overflow flag is read on the host
    after the replay (the one synchronisation) and an outgrown batch computed again
    eagerly with the capacities off."""
    outs, overflow = graph(x)
    if overflow is not None and bool(overflow):
        net.set_capacities(None)
        with torch.no_grad():
            outs = net(x, gated=gated)
        net.set_capacities(capacities)
    return outs


if __name__ == '__main__':
    sys.exit(cli.script(lambda argv: print(json.dumps(main(argv), indent=1))))
