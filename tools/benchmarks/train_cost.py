"""Cost of one DSPNet iteration against (a) one BYOL iteration of every desired network
trained separately (the paper's "pretrained one by one"; 4 and 8 DNs) and (b) the ideal: the
same sampled sub-networks run as plain networks plus one shared target forward.

    python tools/benchmarks/train_cost.py [--quick]           # prints one JSON object

Beside the times, the ATen operators (no views) one DSPNet step and one ideal step dispatch:
on a GPU each is a kernel launch, so the count shows launch overhead on a CPU-only machine.
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
from dspnet_mm.apis.benchmark import (IdealStep, add_device_arguments, autocast, build_model,
                                      fake_views, interleaved, machine, median_ms, ratio_stats,
                                      resolve_device, step_launches)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DSPNET_CFG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')
BYOL_CFG = os.path.join(REPO, 'configs', 'byol_r18_fmnist.py')
DN_SETS = {
    4: {f'w{int(w * 100)}': dict(widths=w) for w in (1.0, 0.75, 0.5, 0.25)},
    8: {**{f'w{int(w * 1000)}': dict(widths=w)
           for w in (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25)},
        'd1_w50': dict(widths=0.5, depths=(1, 1, 1, 1))},
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--batch', type=int, default=64)
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
    result = dict(benchmark='train_cost', batch=args.batch, repeats=args.repeats, amp=args.amp,
                  input='1x28x28 (Fashion-MNIST family, R18 base width 16)',
                  machine=machine(device), dn_sets={})

    def amp(fn):
        def run():
            with autocast(device, args.amp):
                fn()
        return run

    for num_dns, subnets in DN_SETS.items():
        dspnet, d_optim = build_model(DSPNET_CFG, device, backbone=dict(subnets=subnets))
        names = dspnet.dn_names
        sampled = [names[0], names[-1], *names[1:3]]  # sandwich + num_random=2
        dspnet.sampler.sample = lambda: list(sampled)
        ideal = IdealStep(dspnet, sampled).to(device)
        with DefaultScope.overwrite_default_scope('mmselfsup'):
            i_optim = build_optim_wrapper(ideal, Config.fromfile(DSPNET_CFG).optim_wrapper)
        views = dspnet.data_preprocessor(data, True)[0]
        byols = [build_model(BYOL_CFG, device, backbone=dict(subnets=subnets, subnet=n))
                 for n in names]

        def one_by_one():
            for model, optim in byols:
                model.train_step(data, optim)

        times = interleaved(dict(dspnet=amp(lambda: dspnet.train_step(data, d_optim)),
                                 one_by_one=amp(one_by_one),
                                 ideal=amp(lambda: ideal.step(views, i_optim))), args.repeats,
                            device=device)
        result['dn_sets'][num_dns] = dict(
            sampled_per_iteration=sampled,
            ms=dict(dspnet=median_ms(times['dspnet']), one_by_one=median_ms(times['one_by_one']),
                    ideal=median_ms(times['ideal'])),
            dspnet_over_one_by_one=ratio_stats(times['dspnet'], times['one_by_one']),
            dspnet_over_ideal=ratio_stats(times['dspnet'], times['ideal']),
            aten_ops=step_launches(dspnet, d_optim, data, ideal, i_optim, views))
    result['targets'] = dict(dspnet_over_ideal='<= 1.10')
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
