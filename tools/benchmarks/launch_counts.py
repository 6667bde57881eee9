"""Kernel launches without a GPU: the ATen operators (views excluded) that each pass dispatches,
counted on the CPU. On a GPU every one is at least one kernel launch, so these counts show the
launch overhead of slimming, of a DSPNet step and of gated inference on any machine. They do
not depend on the batch or image size, only on the networks' structure.

    python tools/benchmarks/launch_counts.py --out docs/results/launch_counts.json  # ~1 min

Rows: every DN of the R50 family inside the supernet vs slimmed to a plain ResNet (eval
forward, train forward+backward); one DSPNet step (Fashion-MNIST config, 4 DNs, sandwich + 2
random) vs its ideal (the same DNs as plain networks + one shared target forward); a gated
ResNet-18 at density 0.3: dense, masked and fast paths with their host synchronisations.
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
from dspnet_mm.apis.benchmark import (REPO, IdealStep, build_model, fake_views, launches,
                                      machine, pass_launches, set_gate_density, step_launches)
from dspnet_mm.apis.report import write_json
from dspnet_mm.models import GatedResNet, SlimmableResNet

R50 = dict(r50_w1=dict(widths=1.0), r50_w075=dict(widths=0.75), r50_w05=dict(widths=0.5),
           r50_w025=dict(widths=0.25), r26_w05=dict(widths=0.5, depths=(2, 2, 2, 2)))
DSPNET_CFG = os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py')


def slimming():
    torch.manual_seed(0)
    supernet = SlimmableResNet(50, subnets=R50)
    x = torch.randn(2, 3, 32, 32)
    out = {}
    for name in R50:
        plain = supernet.export(name)
        supernet.set_subnet(name)
        out[name] = pass_launches(supernet, plain, x)
    return out


def dspnet_step():
    torch.manual_seed(0)
    subnets = {f'w{int(w * 100)}': dict(widths=w) for w in (1.0, 0.75, 0.5, 0.25)}
    dspnet, d_optim = build_model(DSPNET_CFG, backbone=dict(subnets=subnets))
    names = dspnet.dn_names
    sampled = [names[0], names[-1], *names[1:3]]
    dspnet.sampler.sample = lambda: list(sampled)
    ideal = IdealStep(dspnet, sampled)
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        i_optim = build_optim_wrapper(ideal, Config.fromfile(DSPNET_CFG).optim_wrapper)
    data = fake_views(4)
    views = dspnet.data_preprocessor(data, True)[0]
    return dict(sampled=sampled, **step_launches(dspnet, d_optim, data, ideal, i_optim, views))


def gated_inference(density=0.3):
    torch.manual_seed(0)
    net = GatedResNet(18).eval()
    set_gate_density(net, density)  # every image keeps `density` of each block's channels
    out = {}
    for batch in (1, 8):
        x = torch.randn(batch, 3, 32, 32)
        row = {}
        for path, gated, sparse in (('dense', False, False), ('masked', True, False),
                                    ('fast', True, True)):
            net.set_sparse_inference(sparse)

            def run():
                with torch.no_grad():
                    net(x, gated=gated)
            row[path] = launches(run)
        out[str(batch)] = row
    net.set_sparse_inference(True)
    return dict(density=density, by_batch=out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', help='JSON file to write (default: print only)')
    args = p.parse_args(argv)
    report = dict(benchmark='launch_counts', machine=machine(), slimming=slimming(),
                  dspnet_step=dspnet_step(), gated_inference=gated_inference(),
                  command='python tools/benchmarks/launch_counts.py --out '
                          'docs/results/launch_counts.json')
    if args.out:
        write_json(args.out, report)
    print(json.dumps(report, indent=1))
    return report


if __name__ == '__main__':
    sys.exit(cli.script(main))
