"""Where a bf16 CPU training step gains and where it loses, convolution by convolution.

Every convolution shape of one pretraining step of a config (recorded in fp32) is timed alone:
forward and backward of one ``nn.Conv2d`` at the step's batch and input size, in fp32, bf16
and bf16 + channels-last, interleaved. Each shape's ``calls`` is how often the step runs it.
Then the whole step is timed in fp32, in bf16 + channels-last, and in bf16 + channels-last with
the convolutions whose input map has at most ``--fp32-below`` pixels run in fp32 (contiguous
layout): the remedy the per-shape table suggests where bf16 loses on small maps.

    OMP_NUM_THREADS=1 python tools/benchmarks/conv_shapes.py \\
        configs/vicreg-dual-gating_r18_fmnist.py --batch 64 --repeats 5 --fp32-below 4
"""
import argparse
import json
import os
import sys
import types

import torch
import torch.nn as nn

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (build_model, fake_views, interleaved, machine,
                                      median_ms, ratio_stats)
from dspnet_mm.engine.optimizers import bf16_unsupported_message

MODES = ('fp32', 'bf16', 'bf16_cl')


def conv_shapes(model: nn.Module, data: dict, optim) -> list:
    """The convolutions one training step of ``model`` runs: one dict per distinct shape
    (``in_channels``, ``out_channels``, ``kernel``, ``stride``, ``padding``, ``groups``,
    ``input`` (C, H, W), ``output`` (C, H, W)) with ``calls``, in order of first call."""
    seen = {}

    def record(conv, inputs, output):
        # channels from the tensors: a slimmable conv runs a slice of its weight
        key = (inputs[0].shape[1], output.shape[1], conv.kernel_size, conv.stride,
               conv.padding, conv.groups, tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))
        seen[key] = seen.get(key, 0) + 1

    hooks = [m.register_forward_hook(record) for m in model.modules()
             if isinstance(m, nn.Conv2d)]
    try:
        model.train_step(data, optim)
    finally:
        for h in hooks:
            h.remove()
    return [dict(in_channels=k[0], out_channels=k[1], kernel=list(k[2]), stride=list(k[3]),
                 padding=list(k[4]), groups=k[5], input=list(k[6]), output=list(k[7]), calls=n)
            for k, n in seen.items()]


def conv_step(shape: dict, batch: int, mode: str):
    """Forward + backward of one convolution of ``shape`` in ``mode``, as in a training step:
    bf16 input (fp32 for ``fp32``), fp32 weight autocast to bf16, a gradient of the output's
    dtype and layout."""
    conv = nn.Conv2d(shape['in_channels'], shape['out_channels'], shape['kernel'],
                     shape['stride'], shape['padding'], groups=shape['groups'], bias=False)
    x = torch.randn(batch, *shape['input'])
    if mode == 'bf16_cl':
        conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if mode != 'fp32':
        x = x.bfloat16()
    x.requires_grad_(True)
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=mode != 'fp32'):
        grad = torch.randn_like(conv(x))

    def step():
        conv.weight.grad = x.grad = None
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=mode != 'fp32'):
            y = conv(x)
        y.backward(grad)
    return step


def fp32_small_maps(model: nn.Module, max_pixels: int) -> nn.Module:
    """Run every convolution of ``model`` whose input map has at most ``max_pixels`` pixels
    (H x W) in fp32 and the contiguous layout, autocast or not: the input (and a plain
    ``nn.Conv2d``'s weight) cast and laid out per call, gradients reaching the fp32, possibly
    channels-last, weight. A subclass (a slimmable conv) keeps its own forward, in fp32.
    Other convolutions and the state dict are unchanged. Returns ``model``."""
    def forward(conv, x):
        own = type(conv).forward
        if x.shape[-2] * x.shape[-1] > max_pixels or not torch.is_autocast_enabled('cpu'):
            return own(conv, x)
        with torch.autocast('cpu', enabled=False):
            x = x.float().contiguous()
            if type(conv) is nn.Conv2d:
                return conv._conv_forward(x, conv.weight.contiguous(), conv.bias)
            return own(conv, x)

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.forward = types.MethodType(forward, m)
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='a pretraining config (28x28 Fashion-MNIST views)')
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--fp32-below', type=int, default=4, metavar='PIXELS',
                   help='the remedy timed on the whole step: convolutions on maps of at most '
                   'this many pixels in fp32 (default 4: 2x2 maps)')
    p.add_argument('--quick', action='store_true', help='batch 8, 2 repeats')
    args = p.parse_args(argv)
    for name in ('batch', 'repeats', 'fp32_below'):
        cli.positive('--' + name.replace('_', '-'), getattr(args, name), allow_none=False)
    if not os.path.isfile(args.config):
        raise cli.UsageError(f'{args.config}: no such config file')
    problem = bf16_unsupported_message('conv_shapes.py')
    if problem:
        raise cli.UsageError(problem)
    if args.quick:
        args.batch, args.repeats = 8, 2
    torch.manual_seed(0)
    data = fake_views(args.batch)
    model, optim = build_model(args.config, 'cpu', 'fp32')
    shapes = conv_shapes(model, data, optim)

    convs = {(i, mode): conv_step(s, args.batch, mode)
             for i, s in enumerate(shapes) for mode in MODES}
    times = interleaved(convs, args.repeats)
    for i, s in enumerate(shapes):
        s['ms'] = {mode: median_ms(times[i, mode]) for mode in MODES}
        s['speedup_over_fp32'] = {mode: ratio_stats(times[i, 'fp32'], times[i, mode])
                                  for mode in MODES[1:]}
    total = {mode: round(sum(s['calls'] * s['ms'][mode] for s in shapes), 2) for mode in MODES}

    remedy = f'bf16_cl_fp32_below_{args.fp32_below}'
    steps = {}
    for name in ('fp32', 'bf16_cl', remedy):
        torch.manual_seed(0)
        m, o = build_model(args.config, 'cpu', 'fp32' if name == 'fp32' else 'bf16_cl')
        if name == remedy:
            fp32_small_maps(m, args.fp32_below)
        steps[name] = (lambda m, o: lambda: m.train_step(data, o))(m, o)
    step_times = interleaved(steps, args.repeats)
    result = dict(
        benchmark='conv_shapes', config=os.path.relpath(args.config), batch=args.batch,
        repeats=args.repeats, machine=machine(),
        convolutions=shapes,
        conv_ms_per_step=total,  # sum over shapes of calls x ms (forward + backward, alone)
        step_ms={k: median_ms(t) for k, t in step_times.items()},
        step_speedup_over_fp32={k: ratio_stats(step_times['fp32'], step_times[k])
                                for k in (k for k in steps if k != 'fp32')})
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
