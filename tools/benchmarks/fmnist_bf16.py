"""Does bf16 training cost accuracy? DSPNet on Fashion-MNIST trained in fp32 and in bf16
(``CPUAmpOptimWrapper``), several seeds each, every DN evaluated by ``tools/eval_subnets.py``
(k-NN and the converged linear probe, whole splits); bf16 minus fp32 per DN judged against the
seed-to-seed spread.

    python tools/benchmarks/fmnist_bf16.py --part fp32:0     # one run: train + evaluate
    python tools/benchmarks/fmnist_bf16.py --part bf16:1
    python tools/benchmarks/fmnist_bf16.py --merge           # -> docs/results/fmnist_bf16.{json,md}

Each part writes ``<parts-dir>/<config>/<precision>_seed<N>.json`` (train seconds, every
DN's scores); an interrupted part resumes from its last checkpoint.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import REPO, machine, train, train_segments

PRECISIONS = dict(fp32='float32', bf16='bfloat16')
METRICS = ('knn_top1', 'linear_top1')


def parse_part(text):
    precision, _, seed = text.partition(':')
    if precision not in PRECISIONS or not seed.isdigit():
        raise cli.UsageError(f'--part {text!r} must be PRECISION:SEED with PRECISION one of '
                             f'{", ".join(PRECISIONS)}, e.g. bf16:0')
    return precision, int(seed)


def run_part(precision, seed, args):
    name = os.path.splitext(os.path.basename(args.config))[0]
    work = os.path.join(args.work_dir, name, f'{precision}_seed{seed}')
    options = [f'train_dataloader.dataset.data_prefix={args.data}', f'randomness.seed={seed}',
               f'model.sample_seed={seed}', f'optim_wrapper.dtype={PRECISIONS[precision]}',
               'optim_wrapper.on_unsupported=error'] + args.options
    seconds, ckpt = train(args.config, work, options, resume=True)
    start = time.perf_counter()
    out_dir = os.path.join(work, 'eval')
    cmd = [sys.executable, os.path.join(REPO, 'tools', 'eval_subnets.py'), ckpt,
           '--config', args.config, '--out-dir', out_dir, *args.eval_args]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f'evaluation failed: {" ".join(cmd)}\n{out.stderr[-3000:]}')
    with open(os.path.join(out_dir, 'results.json')) as f:
        rows = json.load(f)
    rows = rows['rows'] if isinstance(rows, dict) else rows
    result = dict(benchmark='fmnist_bf16_part', config=os.path.relpath(args.config, REPO),
                  precision=precision, seed=seed, options=options[1:],
                  train_seconds=round(seconds, 1), train_segments=train_segments(work),
                  eval_seconds=round(time.perf_counter() - start, 1), checkpoint=ckpt,
                  eval_command=' '.join(cmd[1:]), machine=machine(),
                  rows=[{k: r[k] for k in ('name', 'method', *METRICS) if k in r}
                        for r in rows], finished=time.strftime('%Y-%m-%d %H:%M:%S'))
    path = os.path.join(args.parts_dir, name, f'{precision}_seed{seed}.json')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(result, f, indent=1)
    return result


def merge(parts):
    """Per DN and metric: each precision's mean over seeds, bf16 - fp32, and the seed-to-seed
    spread (the larger range of the two precisions); ``within`` when |diff| <= spread."""
    by = {}
    for p in parts:
        for r in p['rows']:
            for m in METRICS:
                by.setdefault((r['name'], m), {}).setdefault(p['precision'], []).append(r[m])
    rows = []
    for (name, metric), v in by.items():
        if set(v) != set(PRECISIONS):
            continue
        mean = {q: round(statistics.mean(s), 2) for q, s in v.items()}
        spread = round(max(max(s) - min(s) for s in v.values()), 2)
        diff = round(mean['bf16'] - mean['fp32'], 2)
        rows.append(dict(name=name, metric=metric, seeds=len(v['fp32']), fp32=v['fp32'],
                         bf16=v['bf16'], fp32_mean=mean['fp32'], bf16_mean=mean['bf16'],
                         diff=diff, seed_spread=spread,
                         within_seed_spread=abs(diff) <= spread))
    seconds = {q: [p['train_seconds'] for p in parts if p['precision'] == q]
               for q in PRECISIONS}
    return dict(benchmark='fmnist_bf16', rows=rows, train_seconds=seconds,
                parts=[dict(precision=p['precision'], seed=p['seed'],
                            train_seconds=p['train_seconds'], finished=p['finished'])
                       for p in parts])


def markdown(result):
    lines = ['| DN | metric | fp32 (seeds) | bf16 (seeds) | bf16 - fp32 | seed spread | '
             'within |', '|---|---|---|---|---|---|---|']
    for r in result['rows']:
        lines.append(f"| {r['name']} | {r['metric']} | {r['fp32_mean']:.2f} "
                     f"({', '.join(f'{x:.2f}' for x in r['fp32'])}) | {r['bf16_mean']:.2f} "
                     f"({', '.join(f'{x:.2f}' for x in r['bf16'])}) | {r['diff']:+.2f} | "
                     f"{r['seed_spread']:.2f} | {'yes' if r['within_seed_spread'] else 'NO'} |")
    secs = result['train_seconds']
    lines.append('')
    lines.append('Train seconds: ' + '; '.join(f'{q} {v}' for q, v in secs.items()))
    return '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--part', help='PRECISION:SEED, e.g. bf16:0')
    p.add_argument('--merge', action='store_true')
    p.add_argument('--config', default=os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py'))
    p.add_argument('--data', default=os.path.join(REPO, 'data', 'fashion_mnist'))
    p.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs', 'fmnist_bf16'))
    p.add_argument('--parts-dir', default=os.path.join(REPO, 'docs', 'results',
                                                       'fmnist_bf16_parts'))
    p.add_argument('--out', default=os.path.join(REPO, 'docs', 'results', 'fmnist_bf16'),
                   help='prefix of the merged .json and .md')
    p.add_argument('--options', nargs='*', default=[], help='extra --cfg-options (tests)')
    p.add_argument('--eval-args', nargs='*', default=[], help='extra eval_subnets flags')
    args = p.parse_args(argv)
    if not os.path.isfile(args.config):
        raise cli.UsageError(f'--config {args.config!r} does not exist')
    if not args.part and not args.merge:
        raise cli.UsageError('give --part PRECISION:SEED or --merge')
    result = None
    if args.part:
        result = run_part(*parse_part(args.part), args)
    if args.merge:
        name = os.path.splitext(os.path.basename(args.config))[0]
        folder = os.path.join(args.parts_dir, name)
        parts = [json.load(open(os.path.join(folder, f))) for f in sorted(os.listdir(folder))
                 if f.endswith('.json')] if os.path.isdir(folder) else []
        result = merge(parts)
        result['config'] = os.path.relpath(args.config, REPO)
        with open(args.out + '.json', 'w') as f:
            json.dump(result, f, indent=1)
        with open(args.out + '.md', 'w') as f:
            f.write(markdown(result))
        print(markdown(result))
    return result


if __name__ == '__main__':
    sys.exit(cli.script(main))
