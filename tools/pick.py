"""Choose the network for a device: every candidate of a checkpoint timed where it will run,
beside its FLOPs and accuracy; with a budget, the best one within it is written, ready to
train downstream.

    python tools/pick.py CKPT --config CFG [--device cpu|cuda[:N]] [--batch-size 1] \
        [--input-size H[,W]] [--dtype fp32|bf16|fp16] [--threads N] \
        [--runtime torch|onnxruntime] [--accuracy results.json --metric linear_top1] \
        [--budget-ms X | --budget-flops F] [--grid 0.3,0.6] [--out-dir DIR] \
        [--print-config mmcls] [--export-onnx]

Candidates: the DNs of a DSPNet checkpoint (plus ``--grid`` widths for a supernet trained with
``sample_space='continuous'``, BN re-calibrated on the config's training images), or the dense
and gated branches of a dynamic-gating checkpoint. Writes pick.json, pick.md and latency.png to
--out-dir; with a budget also the chosen network (``<name>.pth``, slimmed as tools/slim.py
does, latency in its meta), ``<name>_<TARGET>.py`` per --print-config and ``<name>.onnx``.
See docs/deploy.md.
"""
import sys

import dspnet_mm  # noqa: F401
from dspnet_mm.apis import cli
from dspnet_mm.apis.deploy import (DTYPES, RUNTIMES, PickSettings, parse_flops, parse_grid,
                                   parse_input_size, pick)
from dspnet_mm.apis.train_config import CfgOptionsAction
from dspnet_mm.apis.transfer import DOWNSTREAM_TARGETS


def parse_args(argv=None):
    p = cli.ArgumentParser(description='Time every candidate network of a checkpoint on this '
                           'device and write the best one within a budget')
    p.add_argument('checkpoint', help='a DSPNet or dynamic-gating pretraining checkpoint')
    p.add_argument('--config', required=True, help='its pretraining config (data, DN table)')
    p.add_argument('--device', default='cpu', help="'cpu' (default), 'cuda' or 'cuda:N'")
    p.add_argument('--batch-size', type=int, default=1, help='images per timed batch (1)')
    p.add_argument('--input-size', help="H or H,W pixels (default: the config's test images, "
                   'else 224, 32 for small-input stems)')
    p.add_argument('--dtype', default='fp32', help=f"{'|'.join(DTYPES)} (torch runtime)")
    p.add_argument('--threads', type=int, help='CPU threads (default: torch / onnxruntime '
                   'default)')
    p.add_argument('--runtime', default='torch', help=' | '.join(RUNTIMES))
    p.add_argument('--accuracy', metavar='EVAL_JSON',
                   help='results.json of tools/eval_subnets.py for the same checkpoint')
    p.add_argument('--metric', default='linear_top1',
                   help='its column to maximise (default linear_top1; e.g. knn_top1, '
                   'linear_top1_labels0.01)')
    p.add_argument('--budget-ms', type=float, help='median latency per batch at most X ms')
    p.add_argument('--budget-flops', help='FLOPs per image at most F (e.g. 300M, 1.2G)')
    p.add_argument('--grid', help='widths to add for a continuous supernet, e.g. 0.3,0.6')
    p.add_argument('--out-dir', default='work_dirs/pick')
    p.add_argument('--print-config', action='append', default=[], metavar='TARGET',
                   help='write the downstream config of the chosen network: one of '
                   f"{', '.join(DOWNSTREAM_TARGETS)} (repeatable)")
    p.add_argument('--export-onnx', action='store_true',
                   help='also write the chosen network as ONNX (dynamic batch)')
    p.add_argument('--warmup', type=int, default=3, help='warm-up rounds, not recorded (3)')
    p.add_argument('--repeats', type=int, default=20, help='measured rounds, at most (20)')
    p.add_argument('--max-seconds', type=float, default=60.,
                   help='stop measuring after this long, with at least 5 rounds (60)')
    p.add_argument('--force', action='store_true', help='overwrite the chosen network file')
    p.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                   help='override settings of the config, e.g. the dataset folder')
    return p.parse_args(argv)


def work(args):
    cli.existing_file('checkpoint', args.checkpoint)
    cli.existing_file('--accuracy', args.accuracy)
    settings = PickSettings(
        device=args.device, batch_size=args.batch_size,
        input_size=parse_input_size(args.input_size), dtype=args.dtype, threads=args.threads,
        runtime=args.runtime, warmup=args.warmup, repeats=args.repeats,
        max_seconds=args.max_seconds, budget_ms=args.budget_ms,
        budget_flops=parse_flops(args.budget_flops), grid=parse_grid(args.grid),
        metric=args.metric)
    result = pick(args.checkpoint, args.config, settings, args.out_dir, args.accuracy,
                  args.print_config, args.export_onnx, args.force, args.cfg_options,
                  say=print, progress_bar=cli.progress_bar)
    report = result.report
    chosen = report['chosen']
    if chosen:
        row = next(r for r in report['candidates'] if r['name'] == chosen)
        print(f"chosen: {chosen}, {row['median_ms']:.3f} ms per batch (p90 "
              f"{row['p90_ms']:.3f}), {row['flops'] / 1e6:.2f} MFLOPs"
              + (f", {args.metric} {row['accuracy']:.2f}" if row.get('accuracy') is not None
                 else ''))
    print(f"Pareto front: {', '.join(report['front'])}; "
          f"tool time {report['tool_seconds']['total']:.1f} s")
    for path in result.written:
        print(f'written: {path}')


def main(argv=None):
    return cli.run(work, parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
