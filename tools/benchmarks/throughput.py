"""Images per second of one pretraining step (forward, backward, optimizer step; two views per
image) of DSPNet, BYOL (mmselfsup's algorithm, one network), VICReg-Gating and VICReg-Dual-Gating on
the same input, in each precision asked for (timed interleaved), so users can plan compute.

    python tools/benchmarks/throughput.py [--quick]           # prints one JSON object
    python tools/benchmarks/throughput.py --batch 64 --precisions fp32,bf16,bf16_cl
"""
import argparse
import json
import os
import sys

import torch

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (autocast, build_model, fake_views, interleaved, machine,
                                      median_ms, parse_step_arguments, ratio_stats)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = dict(DSPNet='dspnet_r18_fmnist.py', BYOL='byol_r18_fmnist.py',
               VICRegGating='vicreg-gating_r18_fmnist.py',
               VICRegDualGating='vicreg-dual-gating_r18_fmnist.py')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args, device = parse_step_arguments(p, argv, batch=128)
    data = fake_views(args.batch, device=device)

    def step(model, optim, precision):
        # on a CPU the optimizer wrapper autocasts (CPUAmpOptimWrapper); on CUDA autocast here
        with autocast(device, device.type != 'cpu' and precision != 'fp32'):
            model.train_step(data, optim)

    steps = {}
    for name, cfg_name in CONFIGS.items():
        path = os.path.join(REPO, 'configs', cfg_name)
        for precision in args.precisions:
            torch.manual_seed(0)  # every precision starts from the same weights
            model, optim = build_model(path, device, precision)
            steps[name, precision] = (lambda m, o, q: lambda: step(m, o, q))(
                model, optim, precision)
    times = interleaved(steps, args.repeats, device=device)
    result = dict(benchmark='throughput', batch=args.batch, repeats=args.repeats,
                  amp=args.amp, precisions=args.precisions,
                  input='2 views of 1x28x28 (Fashion-MNIST configs)',
                  machine=machine(device), step_ms={}, images_per_s={})
    for (name, precision), t in times.items():
        result['step_ms'].setdefault(name, {})[precision] = median_ms(t)
        result['images_per_s'].setdefault(name, {})[precision] = round(
            args.batch / (median_ms(t) / 1000), 1)
    if len(args.precisions) > 1 and args.precisions[0] == 'fp32':
        # speed-up over fp32, per round: fp32 ms / this precision's ms
        result['speedup_over_fp32'] = {
            name: {q: ratio_stats(times[name, 'fp32'], times[name, q])
                   for q in args.precisions[1:]} for name in CONFIGS}
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
