"""Images per second of one pretraining step (forward, backward, optimizer step; two views per
image) of DSPNet, BYOL (mmselfsup's algorithm, one network) and VICReg-Dual-Gating on the same
input, so users can plan compute.

    python tools/benchmarks/throughput.py [--quick]           # prints one JSON object
"""
import argparse
import json
import sys
import os

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (autocast, build_model, fake_views, interleaved, machine,
                                      median_ms, parse_step_arguments)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = dict(DSPNet='dspnet_r18_fmnist.py', BYOL='byol_r18_fmnist.py',
               VICRegDualGating='vicreg-dual-gating_r18_fmnist.py')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args, device = parse_step_arguments(p, argv, batch=128)
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
