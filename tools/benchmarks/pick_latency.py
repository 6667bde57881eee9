"""FLOPs against measured latency: every DN of the R50 family at 224 px and of the
Fashion-MNIST family at 28 px, timed by ``tools/pick.py`` itself (a subprocess per setting,
as a user runs it) at batch 1 and 32, in torch and onnxruntime. Per DN: latency relative to the
full network beside the FLOPs ratio; per run: the tool's own wall time (start-up, loading,
export, FLOPs counting, timing).

    python tools/benchmarks/pick_latency.py [--quick] [--device cpu] [--dtypes fp32,bf16] \
        [--fmnist-checkpoint work_dirs/dspnet_r18_fmnist/iter_1600.pth] [--out FILE.json]
    python tools/benchmarks/pick_latency.py --table FILE.json     # the markdown tables

Latency does not depend on the weights: the R50 checkpoint is a randomly initialised
supernet of ``configs/dspnet_r50.py``; the Fashion-MNIST one is the demo checkpoint when given.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import machine, resolve_device

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAMILIES = dict(r50=dict(config='configs/dspnet_r50.py', size=224),
                fmnist=dict(config='configs/dspnet_r18_fmnist.py', size=28))


def random_supernet_checkpoint(config: str, path: str) -> str:
    """A backbone-only checkpoint of the config's supernet with random weights."""
    from mmengine.config import Config
    from dspnet_mm.apis.backbone import build_backbone
    torch.manual_seed(0)
    cfg = Config.fromfile(os.path.join(REPO, config))
    net = build_backbone(cfg.model.backbone)
    torch.save(dict(state_dict=net.state_dict()), path)
    return path


def run_pick(ckpt, config, size, batch, runtime, dtype, device, threads, out_dir, extra=()):
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'pick.py'), ckpt, '--config',
           os.path.join(REPO, config), '--input-size', str(size), '--batch-size', str(batch),
           '--runtime', runtime, '--dtype', dtype, '--device', str(device), '--out-dir',
           out_dir, *extra]
    if threads:
        cmd += ['--threads', str(threads)]
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{out.stderr[-3000:]}')
    with open(os.path.join(out_dir, 'pick.json')) as f:
        return json.load(f), round(wall, 1)


def markdown(result: dict) -> str:
    """One table per family and batch: per DN the FLOPs ratio to the full network beside the
    measured speed-up (and median ms) in each runtime and dtype."""
    from dspnet_mm.apis.report import markdown_table
    out = []
    groups = {}
    for run in result['runs']:
        groups.setdefault((run['family'], run['input_size'], run['batch']), []).append(run)
    for (family, size, batch), runs in groups.items():
        keys = [f"{r['runtime']}" + (f" {r['dtype']}" if r['dtype'] != 'fp32' else '')
                for r in runs]
        head = ['DN', 'FLOPs ratio'] + [f'speed-up {k}' for k in keys] + [
            f'ms {k}' for k in keys]
        cells = []
        for i, dn in enumerate(runs[0]['dns']):
            cells.append([dn['name'], f"{dn['flops_ratio']:.2f}x"]
                         + [f"{r['dns'][i]['speedup']:.2f}x" for r in runs]
                         + [f"{r['dns'][i]['median_ms']:.1f}" for r in runs])
        cost = ', '.join(f"{k} {r['tool_wall_s']:.0f} s" for k, r in zip(keys, runs))
        out.append(f'**{family}, {size} px, batch {batch}** ({runs[0]["threads"]} threads; '
                   f'tools/pick.py wall time: {cost})\n\n' + markdown_table(head, cells))
    return '\n\n'.join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='Fashion-MNIST, batch 1, 2 rounds')
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtypes', default='fp32', help='torch runtime dtypes, e.g. fp32,bf16')
    p.add_argument('--runtimes', default='torch,onnxruntime')
    p.add_argument('--batches', default='1,32')
    p.add_argument('--families', default='r50,fmnist')
    p.add_argument('--threads', type=int)
    p.add_argument('--fmnist-checkpoint', help='the demo checkpoint (default: random weights)')
    p.add_argument('--out', help='also write the JSON here')
    p.add_argument('--table', metavar='JSON', help='print the markdown tables of a result')
    args = p.parse_args(argv)
    if args.table:
        with open(args.table) as f:
            text = markdown(json.load(f))
        print(text)
        return text
    device = resolve_device(args.device)
    batches = [int(b) for b in args.batches.split(',')]
    for b in batches:
        cli.positive('--batches', b, allow_none=False)
    families = args.families.split(',')
    runtimes = args.runtimes.split(',')
    dtypes = args.dtypes.split(',')
    extra = []
    if args.quick:
        families, batches, runtimes, dtypes = ['fmnist'], [1], ['torch'], ['fp32']
        extra = ['--warmup', '1', '--repeats', '2']
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise cli.UsageError(f'--families {sorted(unknown)}: choose from {list(FAMILIES)}')
    result = dict(benchmark='pick_latency', machine=machine(device), runs=[],
                  command='python tools/benchmarks/pick_latency.py ' + ' '.join(argv or []))
    with tempfile.TemporaryDirectory() as tmp:
        for family in families:
            fam = FAMILIES[family]
            ckpt = (args.fmnist_checkpoint if family == 'fmnist' and args.fmnist_checkpoint
                    else random_supernet_checkpoint(fam['config'],
                                                    os.path.join(tmp, f'{family}.pth')))
            for batch in batches:
                for runtime in runtimes:
                    for dtype in (dtypes if runtime == 'torch' else ['fp32']):
                        out_dir = os.path.join(tmp, f'{family}_{batch}_{runtime}_{dtype}')
                        # one warm-up round of a large batch is plenty (and saves minutes)
                        warm = ['--warmup', '1'] if batch >= 8 and not args.quick else []
                        report, wall = run_pick(ckpt, fam['config'], fam['size'], batch,
                                                runtime, dtype, device, args.threads, out_dir,
                                                extra + warm)
                        result['runs'].append(dict(
                            family=family, input_size=fam['size'], batch=batch,
                            runtime=runtime, dtype=dtype, threads=report['settings']['threads'],
                            runtime_version=report['machine']['runtime'],
                            rounds=report['rounds'], tool_wall_s=wall,
                            load_average=report['machine']['load_average'],
                            tool_seconds=report['tool_seconds'],
                            dns=[dict(name=r['name'], flops=r['flops'],
                                      flops_ratio=r['flops_ratio'], median_ms=r['median_ms'],
                                      p90_ms=r['p90_ms'], speedup=r['speedup'],
                                      **({'onnx_max_abs_diff': r['onnx_max_abs_diff']}
                                         if 'onnx_max_abs_diff' in r else {}))
                                 for r in report['candidates']]))
                        print(f'{family} batch {batch} {runtime} {dtype}: {wall} s',
                              file=sys.stderr)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
