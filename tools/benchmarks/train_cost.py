"""Cost of one DSPNet iteration against (a) one BYOL iteration of every desired network
trained separately (the paper's "pretrained one by one"; 4 and 8 DNs) and (b) the ideal: the
same sampled sub-networks run as plain networks plus one shared target forward.

    python tools/benchmarks/train_cost.py [--quick]           # prints one JSON object
    python tools/benchmarks/train_cost.py --preset r50 --device cuda --amp
    python tools/benchmarks/train_cost.py --precisions fp32,bf16,bf16_cl   # CPU, side by side

``--preset fmnist`` (default): the Fashion-MNIST config with 4 and 8 DNs and with its own five
DNs (key 5: the DNs of the seeds study in ``fmnist_dspnet.py``), one by one included. Every DN
set samples its largest, smallest, second and third DN each step (the sandwich rule with two
fixed random draws): for the five DNs the fixed pair, r18_w075 and r18_w05, is the dearest of
the three pairs the sampler can draw, so DSPNet's step is timed on the dear side.
``--preset r50``: ``configs/dspnet_r50.py`` with its own DNs on 3x224x224 views, DSPNet vs
the ideal only (its one-by-one BYOL would need five R50 models in memory for the comparison).

Beside the times, the ATen operators (no views) one DSPNet step and one ideal step dispatch:
on a GPU each is a kernel launch, so the count shows launch overhead on a CPU-only machine.
``--profile`` adds where the DSPNet and the ideal step's time goes (``torch.profiler``: host
and kernel time, the top operators), in the first precision.
"""
import argparse
import json
import os
import sys

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (IdealStep, autocast, build_model, fake_views, interleaved,
                                      machine, median_ms, parse_step_arguments,
                                      precision_optim_wrapper, profiled, ratio_stats,
                                      step_launches)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DSPNET_CFG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')
BYOL_CFG = os.path.join(REPO, 'configs', 'byol_r18_fmnist.py')
R50_CFG = os.path.join(REPO, 'configs', 'dspnet_r50.py')
DN_SETS = {
    4: {f'w{int(w * 100)}': dict(widths=w) for w in (1.0, 0.75, 0.5, 0.25)},
    8: {**{f'w{int(w * 1000)}': dict(widths=w)
           for w in (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25)},
        'd1_w50': dict(widths=0.5, depths=(1, 1, 1, 1))},
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--preset', choices=('fmnist', 'r50'), default='fmnist')
    p.add_argument('--profile', action='store_true',
                   help='torch.profiler of one DSPNet and one ideal step: host vs kernel time')
    args, device = parse_step_arguments(p, argv, batch=64)
    r50 = args.preset == 'r50'
    shape = (3, 32, 32) if r50 and args.quick else (3, 224, 224) if r50 else (1, 28, 28)
    data = fake_views(args.batch, shape, device=device)
    result = dict(benchmark='train_cost', preset=args.preset, batch=args.batch,
                  repeats=args.repeats, amp=args.amp, precisions=args.precisions,
                  input='x'.join(map(str, shape)) + (
                      ' (dspnet_r50.py, its own DNs)' if r50
                      else ' (Fashion-MNIST family, R18 base width 16)'),
                  machine=machine(device), dn_sets={})

    def amp(fn, precision):
        # on a CPU the optimizer wrappers autocast (CPUAmpOptimWrapper); on CUDA autocast here
        def run():
            with autocast(device, device.type != 'cpu' and precision != 'fp32'):
                fn()
        return run

    own = Config.fromfile(DSPNET_CFG).model.backbone.subnets.to_dict()
    for num_dns, subnets in ({None: None} if r50 else {**DN_SETS, len(own): own}).items():
        fns, counted = {}, None
        for precision in args.precisions:
            torch.manual_seed(0)
            if r50:
                dspnet, d_optim = build_model(R50_CFG, device, precision)
                num_dns = len(dspnet.dn_names)
            else:
                dspnet, d_optim = build_model(DSPNET_CFG, device, precision,
                                              backbone=dict(subnets=subnets))
            names = dspnet.dn_names
            sampled = [names[0], names[-1], *names[1:3]]  # sandwich + num_random=2
            dspnet.sampler.sample = lambda: list(sampled)
            ideal = IdealStep(dspnet, sampled).to(device)
            with DefaultScope.overwrite_default_scope('mmselfsup'):
                i_optim = build_optim_wrapper(ideal, precision_optim_wrapper(
                    Config.fromfile(R50_CFG if r50 else DSPNET_CFG).optim_wrapper,
                    precision if device.type == 'cpu' else 'fp32'))
            views = dspnet.data_preprocessor(data, True)[0]
            if counted is None and (precision == 'fp32' or device.type != 'cpu'):
                # operators are counted in fp32 (on CUDA the models' wrappers do not autocast)
                counted = step_launches(dspnet, d_optim, data, ideal, i_optim, views)
            fns['dspnet', precision] = amp(
                (lambda m, o: lambda: m.train_step(data, o))(dspnet, d_optim), precision)
            fns['ideal', precision] = amp(
                (lambda m, o, v: lambda: m.step(v, o))(ideal, i_optim, views), precision)
            if not r50:
                byols = [build_model(BYOL_CFG, device, precision,
                                     backbone=dict(subnets=subnets, subnet=n))
                         for n in names]

                def one_by_one(byols=byols):
                    for model, optim in byols:
                        model.train_step(data, optim)
                fns['one_by_one', precision] = amp(one_by_one, precision)
        times = interleaved(fns, args.repeats, device=device)
        first = args.precisions[0]
        row = result['dn_sets'][num_dns] = dict(
            sampled_per_iteration=sampled,
            ms={k: median_ms(times[k, first]) for k in ('dspnet', 'ideal', 'one_by_one')
                if (k, first) in times},
            dspnet_over_ideal=ratio_stats(times['dspnet', first], times['ideal', first]))
        if counted is not None:
            row['aten_ops'] = counted
        if args.profile:
            row['profile'] = {k: profiled(fns[k, first], device) for k in ('dspnet', 'ideal')}
        if not r50:
            row['dspnet_over_one_by_one'] = ratio_stats(times['dspnet', first],
                                                        times['one_by_one', first])
        if len(args.precisions) > 1:
            # every precision's step times, and its speed-up over the first (fp32 ms / ms)
            row['by_precision'] = {
                q: dict(ms={k: median_ms(times[k, q]) for k, q2 in times if q2 == q},
                        speedup_over_first={k: ratio_stats(times[k, first], times[k, q])
                                            for k, q2 in times if q2 == q})
                for q in args.precisions}
    result['targets'] = dict(dspnet_over_ideal='<= 1.15')
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
