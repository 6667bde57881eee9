"""Slim a desired network out of a DSPNet pretraining checkpoint, or export the dense or
gated network of a dynamic-gating checkpoint.

    python tools/slim.py CKPT --list
    python tools/slim.py CKPT --subnet r18_w05 --out work_dirs/r18_w05.pth
    python tools/slim.py GATING_CKPT --branch dense --out work_dirs/dense.pth
    python tools/slim.py GATING_CKPT --branch gated --out work_dirs/gated.pth
    python tools/slim.py CKPT --subnet r50_w05 --out r50_w05.pth --print-config mmdet-fpn

The output of ``--subnet`` is a plain ResNet checkpoint (``state_dict`` + ``meta`` with spec,
FLOPs, params); for full-depth uniform-width networks it loads strict into the stock
mmcls/mmdet/mmseg ResNet. ``--branch dense`` is a plain ResNet too (gates off, the dense BNs);
``--branch gated`` keeps gates and both BN sets for ``GatedResNet(gated=True)`` downstream.
"""
import json
import sys

from dspnet_mm.apis import cli, export_branch, list_subnets, slim
from dspnet_mm.apis.transfer import DOWNSTREAM_TARGETS, downstream_config


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Slim a desired network out of a DSPNet '
                                'checkpoint')
    parser.add_argument('checkpoint')
    parser.add_argument('--subnet', help='name of the desired network')
    parser.add_argument('--branch', choices=('dense', 'gated'),
                        help='for a dynamic-gating checkpoint: the network to export')
    parser.add_argument('--out', help='output path (default: <checkpoint>_<subnet>.pth or '
                        '<checkpoint>_<branch>.pth)')
    parser.add_argument('--config', help='pretraining config (for checkpoints without '
                        'meta.cfg, e.g. backbone-only ones)')
    parser.add_argument('--list', action='store_true', help='list the desired networks')
    parser.add_argument('--input-size', type=int, help='image size for FLOPs '
                        '(default 224, or 32 for small-input stems)')
    parser.add_argument('--print-config', choices=DOWNSTREAM_TARGETS, action='append',
                        default=[], metavar='TARGET',
                        help='also print a ready-to-paste downstream config for the slimmed '
                        f"network: one of {', '.join(DOWNSTREAM_TARGETS)} (repeatable)")
    parser.add_argument('--force', action='store_true', help='overwrite --out if it exists')
    args = parser.parse_args(argv)
    if args.list and (args.subnet or args.branch):
        parser.error('--list prints the desired networks; give it without --subnet/--branch')
    if not args.list:
        if args.branch and args.subnet:
            parser.error('give either --subnet (DSPNet checkpoints) or --branch (gating '
                         'checkpoints), not both')
        if not (args.subnet or args.branch):
            parser.error('give --subnet NAME (or --list to see the names), or --branch '
                         'dense|gated for a dynamic-gating checkpoint')
    return args


def work(args):
    cli.existing_file('checkpoint', args.checkpoint)
    cli.existing_file('--config', args.config)
    cli.positive('--input-size', args.input_size)
    if args.list:
        rows = list_subnets(args.checkpoint, args.config, args.input_size)
        print(f"{'name':<16}{'widths':<28}{'depths':<16}{'GFLOPs':>10}{'Mparams':>10}")
        for r in rows:
            print(f"{r['name']:<16}{str(r['spec']['widths']):<28}"
                  f"{str(r['spec']['depths']):<16}{r['flops'] / 1e9:>10.3f}"
                  f"{r['params'] / 1e6:>10.3f}")
        return 0
    name = args.subnet or args.branch
    out = args.out or f"{args.checkpoint.rsplit('.', 1)[0]}_{name}.pth"
    if args.branch:
        result = export_branch(args.checkpoint, args.branch, out, args.config, args.force)
    else:
        result = slim(args.checkpoint, args.subnet, out, args.config, args.force,
                      args.input_size)
    meta = dict(result['meta'])
    print(json.dumps(dict(out=out, **meta), indent=1, default=str))
    c = meta.get('stage_channels')
    if c:  # the downstream settings that depend on the network's width
        print(f'stage output channels {c}: mmdet FPN neck in_channels={c}; mmseg FCN-D8 '
              f'decode_head in_channels={c[3]}, auxiliary_head in_channels={c[2]}; UPerNet '
              f'decode_head in_channels={c}; mmcls linear head in_channels={c[3]}')
    for target in args.print_config:
        print(f'\n# ---- {target}: a config for the network in {out} ----')
        print(downstream_config(meta, target, out))
    return 0


def main(argv=None):
    return cli.run(work, parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
