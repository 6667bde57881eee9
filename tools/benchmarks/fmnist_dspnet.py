"""DSPNet vs "pretrained one by one" on Fashion-MNIST: the paper's main table in miniature, with
seeds, in resumable parts.

One part is one training run plus the evaluation of what it trained (weighted k-NN, k=20, and
the converged L-BFGS linear probe on frozen features; whole train split as bank / probe
training set, whole test split as queries):

    part ``dspnet``       DSPNet once (configs/dspnet_r18_fmnist<_recipe>.py): every DN
    part ``byol:<DN>``    plain BYOL of one DN alone (configs/byol_r18_fmnist<_recipe>.py),
                          same data, views, schedule and seed

Each part writes <parts-dir>/<recipe>/seed<N>_<part>.json as soon as it is done; a part that
was interrupted resumes from its last checkpoint. ``--merge`` combines every part on disk into
<out-dir>/fmnist_dspnet_<recipe>.{json,md,png}: mean and spread over seeds per DN and method,
DSPNet minus one-by-one, the raw-pixel floor, and the wall-time ratio. The parts run hours
apart and the machine's speed drifts, so ``--time`` also measures that ratio in one run: every
part trains a few hundred iterations in turn, in interleaved rounds (no evaluation).

    python tools/benchmarks/fmnist_dspnet.py --recipe quality --part dspnet --seed 0
    python tools/benchmarks/fmnist_dspnet.py --recipe quality --part byol:r18_w05 --seed 1
    python tools/benchmarks/fmnist_dspnet.py --recipe quality --list     # done / missing
    python tools/benchmarks/fmnist_dspnet.py --recheck --part dspnet --seed 0  # reproduces?
    python tools/benchmarks/fmnist_dspnet.py --recipe quality --time   # wall-time ratio, 1 run
    python tools/benchmarks/fmnist_dspnet.py --recipe quality --merge
    python tools/benchmarks/fmnist_dspnet.py --recipe demo --seeds 0    # every part, then merge
    python tools/benchmarks/fmnist_dspnet.py --quick    # a smoke run: 2 DNs, few iterations
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import sys
import time

from mmengine.config import Config

from dspnet_mm.apis import cli
from dspnet_mm.apis.benchmark import (REPO, build_model, machine, resolve_device, train,
                                      train_segments)
from dspnet_mm.apis.evaluation import ImageSet
from dspnet_mm.apis.report import markdown_table, write_json, write_text
from dspnet_mm.apis.subnet_evaluation import (EvalSettings, load_baseline, prepare_evaluation,
                                              score_network)
from dspnet_mm.apis.slim import subnet_summary

RECIPES = {
    'demo': ('dspnet_r18_fmnist.py', 'byol_r18_fmnist.py'),
    'quality': ('dspnet_r18_fmnist_quality.py', 'byol_r18_fmnist_quality.py'),
    # the quality recipe before bf16 training: 6800 iterations in fp32
    'quality_fp32': ('dspnet_r18_fmnist_quality_fp32.py', 'byol_r18_fmnist_quality_fp32.py'),
}
QUICK = ['train_cfg.max_iters=3', 'train_dataloader.batch_size=16',
         'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
         'train_dataloader.dataset.indices=256']
METRICS = ('knn_top1', 'linear_top1')
TARGETS = dict(floor='every DN of DSPNet at least 2 points above raw pixels (k-NN and linear)',
               per_dn='DSPNet within 0.5 points of one-by-one or better (k-NN and linear)',
               time='DSPNet wall time <= 0.6 of the one-by-one total, every seed',
               time_interleaved='the same, timed interleaved in one run (--time), every round')


def config_paths(recipe):
    return [os.path.join(REPO, 'configs', c) for c in RECIPES[recipe]]


def dn_names(recipe, quick=False):
    names = list(Config.fromfile(config_paths(recipe)[0]).model.backbone.subnets)
    return [names[0], names[-1]] if quick else names


def all_parts(recipe, quick=False):
    return ['dspnet'] + [f'byol:{n}' for n in dn_names(recipe, quick)]


def part_file(parts_dir, recipe, seed, part):
    return os.path.join(parts_dir, recipe, f"seed{seed}_{part.replace(':', '_')}.json")


def settings_for(quick):
    return (EvalSettings(train_subset=500, test_subset=200) if quick else EvalSettings())


def part_run(part, seed, args):
    """(config, cfg-options) of one part's training run."""
    dspnet_cfg, byol_cfg = config_paths(args.recipe)
    options = [f'train_dataloader.dataset.data_prefix={args.data}', f'randomness.seed={seed}']
    options += QUICK if args.quick else []
    if part == 'dspnet':
        return dspnet_cfg, options + [f'model.sample_seed={seed}']
    return byol_cfg, options + [f"model.backbone.subnet={part.split(':', 1)[1]}"]


def run_part(part, seed, args):
    """Train and evaluate one part; write its JSON; return it."""
    cfg, options = part_run(part, seed, args)
    work = os.path.join(args.work_dir, args.recipe, f'seed{seed}', part.replace(':', '_'))
    seconds, ckpt = train(cfg, work, options, device=args.device, resume=True)
    segments = train_segments(work)  # more than one: resumed, each run's seconds counted
    start = time.perf_counter()
    rows = evaluate_part(part, ckpt, args)
    result = dict(benchmark='fmnist_dspnet_part', recipe=args.recipe, part=part, seed=seed,
                  quick=args.quick, config=os.path.relpath(cfg, REPO), options=options[1:],
                  train_seconds=round(seconds, 1), resumed=len(segments) > 1,
                  train_segments=segments,
                  eval_seconds=round(time.perf_counter() - start, 1), checkpoint=ckpt,
                  machine=machine(args.device), rows=rows,
                  finished=time.strftime('%Y-%m-%d %H:%M:%S'))
    write_json(part_file(args.parts_dir, args.recipe, seed, part), result)
    return result


def evaluate_part(part, ckpt, args):
    """The rows of one part: every DN of a DSPNet checkpoint, or the one network of a BYOL
    checkpoint, each with its spec, FLOPs, params and scores."""
    dspnet_cfg = config_paths(args.recipe)[0]
    settings = settings_for(args.quick)
    data = {'train_dataloader.dataset.data_prefix': args.data}
    rows = []
    if part == 'dspnet':
        ev = prepare_evaluation(ckpt, dspnet_cfg, dn_names(args.recipe, args.quick), None,
                                settings, data)
        for name in ev.names:
            rows.append(dict(name=name, method='DSPNet', **subnet_summary(ev.supernet, name),
                             **score_network(ev.supernet.export(name), ev.train, ev.test,
                                             settings)))
    else:
        net, summary = load_baseline(ckpt)
        train_set, test_set = image_sets(dspnet_cfg, args.data, settings)
        rows.append(dict(name=part.split(':', 1)[1], method='one-by-one', **summary,
                         **score_network(net, train_set, test_set, settings)))
    return rows


def recheck(part, seed, args):
    """Evaluate the checkpoint of a finished part again with today's code and compare with its
    JSON: the results must reproduce (nothing is written)."""
    path = part_file(args.parts_dir, args.recipe, seed, part)
    if not os.path.isfile(path):
        raise cli.UsageError(f'{path} does not exist: part {part!r} of seed {seed} is not done')
    with open(path) as f:
        done = json.load(f)
    if not os.path.isfile(done['checkpoint']):
        raise cli.UsageError(f"the checkpoint of {path}, {done['checkpoint']}, is not on this "
                             'machine')
    rows = evaluate_part(part, done['checkpoint'], args)
    diffs = []
    for old, new in zip(done['rows'], rows):
        for key in ('spec', 'flops', 'params', *METRICS):
            same = (old[key] == new[key] if not isinstance(old[key], float)
                    else abs(old[key] - new[key]) <= 0.01)
            print(f"{old['name']:<10} {key:<18} {old[key]!s:<24} {new[key]!s:<24} "
                  f"{'same' if same else 'DIFFERENT'}")
            if not same:
                diffs.append(f"{old['name']}.{key}")
    if diffs or len(rows) != len(done['rows']):
        raise SystemExit(f'{path}: does not reproduce ({diffs or "other rows"})')
    print(f'{path}: reproduces')
    return rows


def timing_file(parts_dir, recipe):
    return os.path.join(parts_dir, recipe, 'wall_interleaved.json')


def time_parts(args):
    """Every part's seconds per training iteration, end to end (tools/train.py on the part's
    own config: data loading in the loader's worker, logging, all of it), measured in
    ``--rounds`` rounds in which every part trains ``--skip`` + ``--iters`` iterations in turn
    (the order rotated each round). The parts of the seeds study ran hours apart on a machine
    whose speed drifts by a third over a day; here the drift hits every part alike. All parts
    share one schedule length, so DSPNet's seconds per iteration over the sum of the BYOL
    parts' is the study's wall-time ratio. Writes <parts-dir>/<recipe>/wall_interleaved.json."""
    parts = all_parts(args.recipe, args.quick)
    window = 1 if args.quick else 10  # mmengine's mean over the last `window` iterations
    if args.iters % window or args.skip % window or args.iters <= 0 or args.skip < 0:
        raise cli.UsageError(f'--iters {args.iters} must be a positive and --skip {args.skip} '
                             f'a non-negative multiple of {window}')
    if args.rounds < 1:
        raise cli.UsageError(f'--rounds must be >= 1, got {args.rounds}')
    schedule = Config.fromfile(config_paths(args.recipe)[0]).train_cfg.max_iters
    rounds = []
    for r in range(args.rounds):
        order = parts[r % len(parts):] + parts[:r % len(parts)]
        per_iter = {}
        for part in order:
            cfg, options = part_run(part, args.seed, args)
            work = os.path.join(args.work_dir, args.recipe, 'timing', part.replace(':', '_'))
            shutil.rmtree(work, ignore_errors=True)
            end = args.skip + args.iters
            train(cfg, work, options + [
                f'train_cfg.max_iters={end}', f'log_processor.window_size={window}',
                f'default_hooks.logger.interval={window}',
                f'default_hooks.checkpoint.interval={end}'], device=args.device)
            per_iter[part] = round(iteration_seconds(work, args.skip, args.iters), 5)
            shutil.rmtree(work, ignore_errors=True)
        byol = sum(v for k, v in per_iter.items() if k != 'dspnet')
        rounds.append(dict(order=order, seconds_per_iter=per_iter,
                           ratio=round(per_iter['dspnet'] / byol, 4)))
    median = {p: statistics.median(r['seconds_per_iter'][p] for r in rounds) for p in parts}
    ratios = [r['ratio'] for r in rounds]
    result = dict(
        benchmark='fmnist_dspnet_wall_interleaved', recipe=args.recipe, quick=args.quick,
        seed=args.seed, rounds=rounds, iters=args.iters, skip=args.skip,
        ratio=dict(median=round(statistics.median(ratios), 3), min=min(ratios),
                   max=max(ratios)),
        schedule_iters=schedule, flops_bound=flops_bound(args.recipe),
        projected_seconds={p: round(v * schedule, 1) for p, v in median.items()},
        machine=machine(args.device), finished=time.strftime('%Y-%m-%d %H:%M:%S'),
        command='python tools/benchmarks/fmnist_dspnet.py ' + ' '.join(args.argv))
    write_json(timing_file(args.parts_dir, args.recipe), result)
    print(f"DSPNet / one-by-one seconds per iteration, {args.rounds} interleaved rounds: "
          f"median {result['ratio']['median']:.3f} ({min(ratios):.3f}-{max(ratios):.3f}); "
          f"FLOPs alone allow {result['flops_bound']:.3f}")
    return result


def flops_bound(recipe):
    """Backbone FLOPs of a DSPNet iteration over those of one iteration of every one-by-one
    part: what compute alone allows the wall-time ratio to be. Per view pair, a trained network
    costs 3 forwards (backward = 2), a target 1; DSPNet trains the largest and the smallest DN
    and ``num_random`` of the others (each equally likely) against one full-width target, each
    BYOL part trains its DN against its own target."""
    model, _ = build_model(config_paths(recipe)[0])
    flops = {n: subnet_summary(model.backbone, n)['flops'] for n in model.dn_names}
    largest, *rest, smallest = model.dn_names  # ordered by FLOPs, as the sampler has them
    random_share = min(model.sampler.num_random, len(rest)) / len(rest) if rest else 0
    dspnet = flops[largest] + 3 * (flops[largest] + flops[smallest] +
                                   random_share * sum(flops[n] for n in rest))
    return round(dspnet / (4 * sum(flops.values())), 3)


def iteration_seconds(work_dir, skip, iters):
    """Mean seconds of training iterations skip+1 .. skip+iters of the run in ``work_dir``,
    from mmengine's scalars (each logged ``time`` is the mean over the window since the last
    log, window = log interval). Every window must be there: a gap is an error, not a guess."""
    found = glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))
    if len(found) != 1:
        raise RuntimeError(f'expected one scalars.json under {work_dir}, found {found}')
    with open(found[0]) as f:
        logged = {r['iter']: r['time'] for r in map(json.loads, f) if 'time' in r}
    marks = sorted(i for i in logged if skip < i <= skip + iters)
    if not marks or marks != list(range(marks[0], skip + iters + 1, marks[0] - skip)):
        raise RuntimeError(f'{found[0]}: the iterations {skip + 1}..{skip + iters} are not '
                           f'all logged (logged at {sorted(logged)})')
    return statistics.mean(logged[i] for i in marks)


def image_sets(config, data, settings):
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'train_dataloader.dataset.data_prefix': data})
    return (ImageSet(cfg, False, settings.train_subset),
            ImageSet(cfg, True, settings.test_subset))


def floor_scores(args):
    """Raw pixels under the same protocol: the committed whole-split figures
    (docs/results/fmnist_floor.json) or, in quick mode, measured on the same subsets."""
    path = os.path.join(REPO, 'docs', 'results', 'fmnist_floor.json')
    if not args.quick and os.path.isfile(path):
        with open(path) as f:
            floor = json.load(f)
        if not floor.get('quick'):
            return dict(knn_top1=floor['knn_top1'], linear_top1=floor['linear_lbfgs_top1'],
                        linear_train_top1=floor['linear_lbfgs_train_top1'],
                        source=os.path.relpath(path, REPO))
    settings = settings_for(args.quick)
    scores = score_network(None, *image_sets(config_paths(args.recipe)[0], args.data, settings),
                           settings)
    return dict(scores, source='measured on the evaluation images')


def stats(values):
    return dict(values=values, mean=round(statistics.mean(values), 2),
                spread=round(max(values) - min(values), 2), n=len(values))


def merge(args):
    """Every part on disk -> one report (missing parts are listed, not guessed)."""
    parts = {}
    for path in sorted(glob.glob(os.path.join(args.parts_dir, args.recipe, 'seed*_*.json'))):
        with open(path) as f:
            p = json.load(f)
        if p['quick'] == args.quick:
            parts[(p['seed'], p['part'])] = p
    if not any(part == 'dspnet' for _, part in parts):
        raise cli.UsageError(f'no DSPNet part of recipe {args.recipe!r} in '
                             f'{os.path.join(args.parts_dir, args.recipe)}; run --part dspnet')
    names = dn_names(args.recipe, args.quick)
    seeds = sorted({s for s, _ in parts})
    missing = [f'seed {s} {p}' for s in seeds for p in all_parts(args.recipe, args.quick)
               if (s, p) not in parts]
    floor = floor_scores(args)
    table = []
    for name in names:
        row = dict(dn=name)
        for method, part in (('dspnet', 'dspnet'), ('alone', f'byol:{name}')):
            got = [next(r for r in parts[(s, part)]['rows'] if r['name'] == name)
                   for s in seeds if (s, part) in parts]
            if not got:
                continue
            row.update(flops=got[0]['flops'], params=got[0]['params'], spec=got[0]['spec'])
            for m in METRICS:
                row[f'{method}_{m}'] = stats([round(g[m], 2) for g in got])
        for m in METRICS:
            if f'dspnet_{m}' in row:
                row[f'dspnet_{m}_minus_floor_min'] = round(
                    min(row[f'dspnet_{m}']['values']) - floor[m], 2)
            if f'dspnet_{m}' in row and f'alone_{m}' in row:
                a, b = row[f'dspnet_{m}'], row[f'alone_{m}']
                row[f'diff_{m}'] = round(a['mean'] - b['mean'], 2)
                # seed noise: the larger seed-to-seed spread of the two (unknown with 1 seed)
                row[f'noise_{m}'] = max(a['spread'], b['spread'])
                row[f'beyond_noise_{m}'] = (abs(row[f'diff_{m}']) > row[f'noise_{m}']
                                            if max(a['n'], b['n']) > 1 else None)
        table.append(row)
    wall = {}
    for s in seeds:
        byol = [parts[(s, f'byol:{n}')] for n in names if (s, f'byol:{n}') in parts]
        if (s, 'dspnet') in parts and len(byol) == len(names):
            d = parts[(s, 'dspnet')]
            total = sum(b['train_seconds'] for b in byol)
            devices = {p['machine']['device'] for p in [d] + byol}
            wall[str(s)] = dict(dspnet=d['train_seconds'], one_by_one_total=round(total, 1),
                                ratio=round(d['train_seconds'] / total, 3),
                                devices=sorted(devices),
                                resumed=any(p['resumed'] for p in [d] + byol))
    pooled = None  # every complete seed's seconds summed: less of the machine's drift
    if len(wall) > 1:
        d, t = (sum(w[k] for w in wall.values()) for k in ('dspnet', 'one_by_one_total'))
        pooled = dict(seeds=sorted(wall), dspnet=round(d, 1), one_by_one_total=round(t, 1),
                      ratio=round(d / t, 3))
    interleaved = None  # the wall-time ratio measured in one run (see time_parts)
    if os.path.isfile(timing_file(args.parts_dir, args.recipe)):
        with open(timing_file(args.parts_dir, args.recipe)) as f:
            interleaved = json.load(f)
        if interleaved['quick'] != args.quick:
            interleaved = None
    diffs = [r.get(f'diff_{m}') for r in table for m in METRICS]
    checks = dict(  # None: not measured yet (parts missing)
        floor=all(r.get(f'dspnet_{m}_minus_floor_min', -1) >= 2 for r in table for m in METRICS),
        per_dn=None if None in diffs else all(d >= -0.5 for d in diffs),
        time=all(w['ratio'] <= 0.6 for w in wall.values()) if wall else None,
        time_interleaved=interleaved['ratio']['max'] <= 0.6 if interleaved else None)
    report = dict(benchmark='fmnist_dspnet', recipe=args.recipe, quick=args.quick, seeds=seeds,
                  configs=[os.path.relpath(c, REPO) for c in config_paths(args.recipe)],
                  floor=floor, table=table, wall_seconds=wall, wall_pooled=pooled,
                  wall_interleaved=interleaved and dict(
                      ratio=interleaved['ratio'], rounds=len(interleaved['rounds']),
                      iters=interleaved['iters'], flops_bound=interleaved['flops_bound'],
                      projected_seconds=interleaved['projected_seconds'],
                      finished=interleaved['finished']),
                  targets=TARGETS, met=checks,
                  missing=missing, parts={f'seed{s}_{p}': dict(
                      machine=v['machine']['device'], finished=v['finished'],
                      train_seconds=v['train_seconds'], eval_seconds=v['eval_seconds'],
                      **({'note': v['note']} if v.get('note') else {}))
                      for (s, p), v in sorted(parts.items())})
    write(report, args.out_dir)
    return report


def fmt(row, key):
    s = row.get(key)
    if s is None:
        return '-'
    return f"{s['mean']:.2f}" + (f" ± {s['spread'] / 2:.2f}" if s['n'] > 1 else '')


def write(report, out_dir):
    stem = os.path.join(out_dir, f"fmnist_dspnet_{report['recipe']}")
    write_json(stem + '.json', report)
    head = ['DN', 'MFLOPs', 'Mparams', 'k-NN DSPNet', 'k-NN alone', 'diff', 'linear DSPNet',
            'linear alone', 'diff']
    body = [[r['dn'], f"{r.get('flops', 0) / 1e6:.1f}", f"{r.get('params', 0) / 1e6:.3f}",
             fmt(r, 'dspnet_knn_top1'), fmt(r, 'alone_knn_top1'),
             f"{r['diff_knn_top1']:+.2f}" if 'diff_knn_top1' in r else '-',
             fmt(r, 'dspnet_linear_top1'), fmt(r, 'alone_linear_top1'),
             f"{r['diff_linear_top1']:+.2f}" if 'diff_linear_top1' in r else '-']
            for r in report['table']]
    f = report['floor']
    body.append(['**raw pixels (floor)**', '-', '-', f"**{f['knn_top1']:.2f}**", '', '',
                 f"**{f['linear_top1']:.2f}**", '', ''])
    lines = [markdown_table(head, body), '',
             f"Seeds {report['seeds']}: mean ± half the range over seeds. Floor: "
             f"{f['source']}."]
    for s, w in report['wall_seconds'].items():
        where = ', '.join(w['devices']) + (', a part was resumed' if w['resumed'] else '')
        lines.append(f"Wall time, seed {s}: DSPNet {w['dspnet']:.0f} s, one-by-one BYOL total "
                     f"{w['one_by_one_total']:.0f} s, ratio {w['ratio']:.3f} ({where}).")
    p = report.get('wall_pooled')
    if p:
        lines.append(f"Wall time, seeds {', '.join(p['seeds'])} pooled: DSPNet "
                     f"{p['dspnet']:.0f} s, one-by-one BYOL total {p['one_by_one_total']:.0f} s, "
                     f"ratio {p['ratio']:.3f} (the target is judged per seed).")
    t = report.get('wall_interleaved')
    if t:
        lines.append(f"Wall time timed interleaved in one run ({t['rounds']} rounds of "
                     f"{t['iters']} iterations of every part, data loading included, "
                     f"{t['finished'][:10]}): DSPNet / one-by-one total {t['ratio']['median']:.3f}"
                     f" (rounds {t['ratio']['min']:.3f}-{t['ratio']['max']:.3f}); the "
                     f"backbone FLOPs of an iteration alone allow {t['flops_bound']:.3f}.")
    lines += noise_lines(report['table'])
    so_far = ' (so far: parts are missing)' if report['missing'] else ''
    for key, text in report['targets'].items():
        met = report['met'][key]
        lines.append(f"- {'not measured yet' if met is None else 'met' if met else 'NOT met'}: "
                     f'{text}{so_far if met is not None else ""}')
    if report['missing']:
        lines.append(f"- parts still missing: {', '.join(report['missing'])}")
    for name, part in report['parts'].items():
        if part.get('note'):
            lines.append(f"- note on {name}: {part['note']}")
    write_text(stem + '.md', '\n'.join(lines) + '\n')
    plot(report, stem + '.png')
    print('\n'.join(lines))


def noise_lines(table):
    """Per DN: is DSPNet minus one-by-one larger than the seed-to-seed spread? (A rough
    test: with 2 seeds a spread estimates the noise only loosely.)"""
    lines = []
    for r in table:
        said = []
        for m, label in (('knn_top1', 'k-NN'), ('linear_top1', 'linear')):
            if r.get(f'beyond_noise_{m}') is not None:
                said.append(f"{label} {r[f'diff_{m}']:+.2f} "
                            f"({'beyond' if r[f'beyond_noise_{m}'] else 'within'} the seed "
                            f"spread {r[f'noise_{m}']:.2f})")
        if said:
            lines.append(f"- {r['dn']}: DSPNet minus one-by-one " + ', '.join(said))
    if lines:
        lines.insert(0, 'Seed spread: the larger max - min over seeds of the two methods.')
    return lines


def plot(report, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, m, title in zip(axes, METRICS, ('k-NN top-1 (%)', 'linear probe top-1 (%)')):
        for method, marker in (('dspnet', 'o'), ('alone', 's')):
            rows = [r for r in report['table'] if f'{method}_{m}' in r]
            xs = [r['flops'] / 1e6 for r in rows]
            ys = [r[f'{method}_{m}']['mean'] for r in rows]
            err = [[r[f'{method}_{m}']['mean'] - min(r[f'{method}_{m}']['values']) for r in rows],
                   [max(r[f'{method}_{m}']['values']) - r[f'{method}_{m}']['mean'] for r in rows]]
            ax.errorbar(xs, ys, yerr=err, fmt=marker, capsize=3,
                        label='DSPNet' if method == 'dspnet' else 'one by one (BYOL)')
        ax.axhline(report['floor'][m], color='grey', ls='--', label='raw pixels (floor)')
        ax.set_xscale('log')
        ax.set_xlabel('MFLOPs')
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--recipe', choices=list(RECIPES), default='quality')
    p.add_argument('--part', help="'dspnet' or 'byol:<DN>' (default: every missing part of "
                                  '--seeds, then --merge)')
    p.add_argument('--seed', type=int, default=0, help='seed of --part')
    p.add_argument('--seeds', default='0,1', help='seeds of a run without --part')
    p.add_argument('--merge', action='store_true', help='only merge the parts on disk')
    p.add_argument('--list', action='store_true', help='print the parts done and missing')
    p.add_argument('--recheck', action='store_true',
                   help="evaluate --part's checkpoint again and compare with its JSON")
    p.add_argument('--time', action='store_true',
                   help='time every part end to end, interleaved in one run (no evaluation)')
    p.add_argument('--rounds', type=int, default=3, help='rounds of --time')
    p.add_argument('--iters', type=int, default=100, help='timed iterations per part and round')
    p.add_argument('--skip', type=int, default=20, help='warm-up iterations not timed')
    p.add_argument('--quick', action='store_true')
    p.add_argument('--device', default='cpu', help="where parts train: 'cpu' or 'cuda'")
    p.add_argument('--out-dir', default=os.path.join(REPO, 'docs', 'results'))
    p.add_argument('--parts-dir', default=os.path.join(REPO, 'docs', 'results',
                                                       'fmnist_dspnet_parts'))
    p.add_argument('--work-dir', default=os.path.join(REPO, 'work_dirs', 'fmnist_dspnet'))
    p.add_argument('--data', default=os.path.join(REPO, 'data', 'fashion_mnist'))
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.device = resolve_device(args.device)
    try:
        seeds = [int(s) for s in args.seeds.split(',')]
    except ValueError:
        raise cli.UsageError(f'--seeds {args.seeds!r} must be comma-separated integers') \
            from None
    if args.seed < 0 or min(seeds) < 0:
        raise cli.UsageError(f'seeds must be >= 0, got --seed {args.seed} --seeds {args.seeds}')
    if not os.path.isdir(args.data):
        raise cli.UsageError(f'--data {args.data!r} does not exist; run '
                             'tools/prepare_fashion_mnist.py first')
    if args.quick:
        seeds = [args.seed] if args.part else [0]
    known = all_parts(args.recipe, args.quick)
    if args.part is not None and args.part not in known:
        raise cli.UsageError(f'--part {args.part!r} is not a part of recipe {args.recipe!r}; '
                             f"choose from {', '.join(known)}")
    if args.list:
        for s in seeds:
            for part in known:
                done = os.path.isfile(part_file(args.parts_dir, args.recipe, s, part))
                print(f"seed {s} {part:<16} {'done' if done else 'missing'}")
        return None
    if args.time:
        return time_parts(args)
    if args.recheck:
        if not args.part:
            raise cli.UsageError('--recheck needs --part (and --seed)')
        return recheck(args.part, args.seed, args)
    if args.part:
        return run_part(args.part, args.seed, args)
    if not args.merge:
        for s in seeds:
            for part in known:
                if not os.path.isfile(part_file(args.parts_dir, args.recipe, s, part)):
                    run_part(part, s, args)
    return merge(args)


if __name__ == '__main__':
    sys.exit(cli.script(main))
