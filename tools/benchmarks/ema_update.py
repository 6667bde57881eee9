"""Time of one EMA update of DSPNet's target: mmselfsup's ``CosineEMA`` (every parameter and
buffer, one by one, private BNs included) vs ``TargetCosineEMA`` (what the target runs, fused
``torch._foreach_*`` ops), interleaved in one run.

    python tools/benchmarks/ema_update.py [--config configs/dspnet_r50.py] [--device cuda]
    python tools/benchmarks/ema_update.py --quick

Prints one JSON object: median ms of each and the ratio CosineEMA / TargetCosineEMA.
"""
import argparse
import copy
import json
import os
import sys

import torch
from mmengine.logging import MessageHub
from mmselfsup.models.utils import CosineEMA

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (REPO, add_device_arguments, build_model, interleaved,
                                      machine, median_ms, ratio_stats, resolve_device)
from dspnet_mm.models.slimmable.ema import TargetCosineEMA


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default=os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py'))
    p.add_argument('--repeats', type=int, default=20)
    p.add_argument('--quick', action='store_true')
    add_device_arguments(p, amp=False)
    args = p.parse_args(argv)
    cli.positive('--repeats', args.repeats, allow_none=False)
    cli.existing_file('--config', args.config)
    device = resolve_device(args.device)
    if args.quick:
        args.repeats = 3
    model, _ = build_model(args.config, device)
    MessageHub.get_current_instance().update_info('max_iters', 10_000)
    online = torch.nn.Sequential(model.backbone, model.neck)
    fused = model.target_net
    assert isinstance(fused, TargetCosineEMA), type(fused)
    plain = CosineEMA(copy.deepcopy(online), momentum=fused.momentum).to(device)
    for ema in (fused, plain):  # past the first (copying) step
        ema.update_parameters(online)
    times = interleaved(dict(cosine_ema=lambda: plain.update_parameters(online),
                             target_cosine_ema=lambda: fused.update_parameters(online)),
                        args.repeats, device=device)
    result = dict(benchmark='ema_update', config=os.path.relpath(args.config, REPO),
                  repeats=args.repeats, machine=machine(device),
                  tensors=dict(
                      cosine_ema=len(plain.avg_parameters) + len(list(plain.module.buffers())),
                      target_cosine_ema=len(fused._names) + len(fused._buffer_names)),
                  ms=dict(cosine_ema=median_ms(times['cosine_ema']),
                          target_cosine_ema=median_ms(times['target_cosine_ema'])),
                  cosine_ema_over_target=ratio_stats(times['cosine_ema'],
                                                     times['target_cosine_ema']))
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
