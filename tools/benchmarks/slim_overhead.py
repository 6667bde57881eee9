"""A desired network run inside the supernet (weight slicing, switchable BN) vs the same network
slimmed into a plain ResNet: time ratio of eval forward and of train forward+backward, per DN
of the R50 family. The plain network is the limit (ratio 1.0). Only the passes are timed:
each network is put in eval or train mode once, and its gradients are cleared untimed.

    python tools/benchmarks/slim_overhead.py [--quick]        # prints one JSON object

Beside the times, the ATen operators (no views) each pass dispatches, supernet and plain: on a
GPU each is a kernel launch, so the count shows the launch overhead on a CPU-only machine.
``--profile`` adds, per DN, where the train pass's time goes, supernet and plain
(``torch.profiler``: host and kernel time, the top operators).
"""
import argparse
import json
import sys

import torch

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (add_device_arguments, autocast, interleaved, machine,
                                      median_ms, pass_launches, profiled, ratio_stats,
                                      resolve_device)
from dspnet_mm.models import SlimmableResNet

SUBNETS = dict(r50_w1=dict(widths=1.0), r50_w075=dict(widths=0.75),
               r50_w05=dict(widths=0.5), r50_w025=dict(widths=0.25),
               r26_w05=dict(widths=0.5, depths=(2, 2, 2, 2)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--size', type=int, default=96)
    p.add_argument('--repeats', type=int, default=7)
    p.add_argument('--profile', action='store_true',
                   help='torch.profiler of each train pass: host vs kernel time, top operators')
    add_device_arguments(p)
    args = p.parse_args(argv)
    for name in ('batch', 'size', 'repeats'):
        cli.positive(f'--{name}', getattr(args, name), allow_none=False)
    device = resolve_device(args.device)
    if args.quick:
        args.batch, args.size, args.repeats = 2, 32, 2
    torch.manual_seed(0)
    supernet = SlimmableResNet(50, subnets=SUBNETS).to(device)
    x = torch.randn(args.batch, 3, args.size, args.size).to(device)
    result = dict(benchmark='slim_overhead', batch=args.batch, size=args.size,
                  repeats=args.repeats, amp=args.amp, machine=machine(device), subnets={})
    for name in SUBNETS:
        plain = supernet.export(name).to(device)
        supernet.set_subnet(name)
        nets = dict(supernet=supernet, plain=plain)

        def eval_fn(net):
            def run():
                with torch.no_grad(), autocast(device, args.amp):
                    net(x)
            return run

        def train_fn(net):
            def run():
                with autocast(device, args.amp):
                    out = net(x)[0].float().mean()
                out.backward()
            return run

        # Only the pass is timed. Switching modes (``train()`` walks every module, and the
        # supernet has a BN per DN) and ``zero_grad`` (every parameter) are paid once per
        # step, not per DN; train_cost.py times them within the whole DSPNet step.
        for net in nets.values():
            net.eval()
        ev = interleaved({k: eval_fn(n) for k, n in nets.items()}, args.repeats,
                         device=device)
        for net in nets.values():
            net.train()
        tr = interleaved({k: train_fn(n) for k, n in nets.items()}, args.repeats,
                         device=device,
                         setup={k: (lambda n=n: n.zero_grad(set_to_none=True))
                                for k, n in nets.items()})
        result['subnets'][name] = dict(
            eval_ratio=ratio_stats(ev['supernet'], ev['plain']),
            train_ratio=ratio_stats(tr['supernet'], tr['plain']),
            eval_ms=dict(supernet=median_ms(ev['supernet']), plain=median_ms(ev['plain'])),
            train_ms=dict(supernet=median_ms(tr['supernet']), plain=median_ms(tr['plain'])),
            aten_ops=pass_launches(supernet, plain, x))
        if args.profile:
            for net in nets.values():
                net.train()
            result['subnets'][name]['train_profile'] = {
                k: profiled(train_fn(n), device, setup=lambda n=n: n.zero_grad(set_to_none=True))
                for k, n in nets.items()}
    result['targets'] = dict(eval_ratio='<= 1.05', train_ratio='<= 1.15')
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
