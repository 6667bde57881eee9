"""Images per second of one pretraining step (forward, backward, optimizer step; two views per
image) of DSPNet, BYOL (mmselfsup's algorithm, one network) and VICReg-Dual-Gating on the same
input, so users can plan compute.

    python tools/benchmarks/throughput.py [--quick]           # prints one JSON object
"""
import argparse
import json
import sys
import os

import torch

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (add_device_arguments, autocast, build_model, fake_views,
                                      interleaved, machine, median_ms, resolve_device)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = dict(DSPNet='dspnet_r18_fmnist.py', BYOL='byol_r18_fmnist.py',
               VICRegDualGating='vicreg-dual-gating_r18_fmnist.py')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--repeats', type=int, default=5)
    add_device_arguments(p)
    args = p.parse_args(argv)
    for name in ('batch', 'repeats'):
        cli.positive(f'--{name}', getattr(args, name), allow_none=False)
    device = resolve_device(args.device)
    if args.quick:
        args.batch, args.repeats = 8, 2
    torch.manual_seed(0)
    data = fake_views(args.batch, device=device)
    def step(model, optim):
        with autocast(device, args.amp):
            model.train_step(data, optim)

    steps = {}
    for name, cfg_name in CONFIGS.items():
        path = os.path.join(REPO, 'configs', cfg_name)
        if os.path.exists(path):
            model, optim = build_model(path, device)
            steps[name] = (lambda m, o: lambda: step(m, o))(model, optim)
    times = interleaved(steps, args.repeats, device=device)
    result = dict(benchmark='throughput', batch=args.batch, repeats=args.repeats,
                  amp=args.amp, input='2 views of 1x28x28 (Fashion-MNIST configs)',
                  machine=machine(device),
                  step_ms={k: median_ms(v) for k, v in times.items()},
                  images_per_s={k: round(args.batch / (median_ms(v) / 1000), 1)
                                for k, v in times.items()})
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
