"""Images per second of one pretraining step (forward, backward, optimizer step; two views per
image) of DSPNet, BYOL (mmselfsup's algorithm, one network) and VICReg-Dual-Gating on the same
input, so users can plan compute.

    python tools/benchmarks/throughput.py [--quick]           # prints one JSON object
"""
import argparse
import json
import os

import torch

from common import build_model, fake_views, interleaved, machine, median_ms

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = dict(DSPNet='dspnet_r18_fmnist.py', BYOL='byol_r18_fmnist.py',
               VICRegDualGating='vicreg-dual-gating_r18_fmnist.py')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.repeats = 8, 2
    torch.manual_seed(0)
    data = fake_views(args.batch)
    steps = {}
    for name, cfg_name in CONFIGS.items():
        path = os.path.join(REPO, 'configs', cfg_name)
        if os.path.exists(path):
            model, optim = build_model(path)
            steps[name] = (lambda m, o: lambda: m.train_step(data, o))(model, optim)
    times = interleaved(steps, args.repeats)
    result = dict(benchmark='throughput', batch=args.batch, repeats=args.repeats,
                  input='2 views of 1x28x28 (Fashion-MNIST configs)', machine=machine(),
                  step_ms={k: median_ms(v) for k, v in times.items()},
                  images_per_s={k: round(args.batch / (median_ms(v) / 1000), 1)
                                for k, v in times.items()})
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    main()
