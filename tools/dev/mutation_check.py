"""Plant plausible bugs in the core modules, one at a time, on a copy of the repository, and run
the tests that should catch each one. Not part of CI (about 10 minutes on 2 cores).

    .venv/bin/python tools/dev/mutation_check.py [--only NAME ...] > docs/results/mutation_check.md

A mutation is "caught" when its tests fail; the report lists every mutation, the tests run and
the verdict, and the script exits 1 when any mutation survives.
"""
import argparse
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ALGO = 'dspnet_mm/models/algorithms/'

# name: (file, text to replace (exactly once), replacement, tests)
MUTATIONS = {
    'dspnet: drop the 2x of the BYOL loss': (
        ALGO + 'dspnet.py', "losses[f'loss_{name}'] = 2. * (", "losses[f'loss_{name}'] = (",
        ['tests/test_models/test_dspnet_oracle.py']),
    "dspnet: each DN predicts its own view's target": (
        ALGO + 'dspnet.py', 'head.loss(pred_v1, target_v2) +\n', 'head.loss(pred_v1, target_v1) +\n',
        ['tests/test_models/test_dspnet_oracle.py']),
    'dspnet: every DN uses the full network\'s predictor': (
        ALGO + 'dspnet.py', 'head = self.head_of(subnet)', 'head = self.head',
        ['tests/test_models/test_dspnet_oracle.py', 'tests/test_models/test_dspnet.py']),
    'dspnet: target not updated by EMA': (
        ALGO + 'dspnet.py',
        'self.target_net.update_parameters(nn.Sequential(self.backbone, self.neck))', 'pass',
        ['tests/test_models/test_dspnet.py', 'tests/test_models/test_dspnet_oracle.py']),
    'sampler: the smallest DN is not always trained': (
        ALGO + 'sampling.py', "picked = [largest] + ([smallest] if smallest != largest else [])",
        'picked = [largest]', ['tests/test_models/test_dspnet_oracle.py']),
    'sampler: the draw ignores the iteration': (
        ALGO + 'sampling.py', 'random.Random(self.seed * 1_000_003 + self._iteration())',
        'random.Random(self.seed * 1_000_003)', ['tests/test_models/test_dspnet_oracle.py']),
    'vicreg-gating: second view through the dense branch': (
        ALGO + 'vicreg_gating.py', 'feats2, masks2 = self.backbone.forward_gated(inputs[1])',
        'feats2, masks2 = self.backbone(inputs[1], gated=False), masks1',
        ['tests/test_models/test_vicreg_algorithms.py']),
    'dual gating: both branches see view 1': (
        ALGO + 'vicreg_dual_gating.py', "self.backbone(dense_view, gated=False)",
        "self.backbone(gated_view, gated=False)", ['tests/test_models/test_vicreg_algorithms.py']),
    'vicreg loss: variance of one branch only': (
        'dspnet_mm/models/losses/vicreg_loss.py',
        'variance = variance_term(z_a, self.eps) + variance_term(z_b, self.eps)',
        'variance = variance_term(z_a, self.eps)', ['tests/test_models/test_vicreg_loss.py']),
    'vicreg loss: variance always halved': (
        'dspnet_mm/models/losses/vicreg_loss.py', 'if self.average_variance:', 'if True:',
        ['tests/test_models/test_vicreg_loss.py']),
    'lars: step size not clipped at lr': (
        'dspnet_mm/engine/optimizers/lars.py',
        "scale = torch.clamp(trust / group['lr'], max=1.) if self.clip else trust",
        "scale = trust / group['lr'] if self.clip else trust",
        ['tests/test_engine/test_optimizers.py']),
    'lars: excluded tensors decayed by the inner SGD step': (
        'dspnet_mm/engine/optimizers/lars.py',
        "group['weight_decay'] = 0.  # the inner SGD step decays nothing", 'pass',
        ['tests/test_engine/test_optimizers.py']),
    'warm-up cosine: base lr reached one epoch late': (
        'dspnet_mm/engine/optimizers/warmup_cosine.py',
        '/ (self.warmup - 1))', '/ self.warmup)', ['tests/test_engine/test_optimizers.py']),
    'reference FLOPs: gates counted with pooling and BN': (
        'dspnet_mm/models/gating/gated_flops.py', 'else blk.gate.reference_flops())',
        'else blk.gate.flops(*block_input[blk]))', ['tests/test_models/test_gated_reference.py']),
    'reference dual BN: shortcut BN duplicated anyway': (
        'dspnet_mm/models/backbones/gated_resnet.py', 'if dual_bn and not dual_bn_shortcut:',
        'if False:', ['tests/test_models/test_gated_reference.py']),
    'vicreg loss: covariance keeps the diagonal': (
        'dspnet_mm/models/losses/vicreg_loss.py',
        'off_diagonal = cov - torch.diag(torch.diagonal(cov))', 'off_diagonal = cov',
        ['tests/test_models/test_vicreg_loss.py']),
    'sparsity loss: upper bound 1 - p sqrt(t_d)': (
        'dspnet_mm/models/losses/sparsity_loss.py', 'upper = 1. - p + p * math.sqrt(t_d)',
        'upper = 1. - p * math.sqrt(t_d)', ['tests/test_models/test_vicreg_loss.py']),
    'sparsity loss: lower bound p t_d (no sqrt)': (
        'dspnet_mm/models/losses/sparsity_loss.py', 'lower = p * math.sqrt(t_d)', 'lower = p * t_d',
        ['tests/test_models/test_vicreg_loss.py']),
    'gate annealing: p = exp(-alpha (epoch + 1))': (
        'dspnet_mm/engine/hooks/gate_annealing.py', 'p = math.exp(-self.alpha * epoch)',
        'p = math.exp(-self.alpha * (epoch + 1))',
        ['tests/test_models/test_gate_annealing_hook.py']),
    'switchable BN: private BN ignored': (
        'dspnet_mm/models/slimmable/slimmable_ops.py', 'if self.active_key is not None:',
        'if False:', ['tests/test_models/test_slimmable_resnet.py']),
    'slimming: shared BN exported instead of the DN\'s own': (
        'dspnet_mm/models/backbones/slimmable_resnet.py',
        'src = private if private in state_dict else k', 'src = k',
        ['tests/test_models/test_slimmable_resnet.py', 'tests/test_tools/test_slim.py']),
    'slimming: trailing slice instead of leading': (
        'dspnet_mm/models/backbones/slimmable_resnet.py',
        'out[k] = t[tuple(slice(0, n) for n in shape)].clone()',
        'out[k] = t[tuple(slice(t.shape[i] - n, None) for i, n in enumerate(shape))].clone()',
        ['tests/test_models/test_slimmable_resnet.py', 'tests/test_tools/test_slim.py']),
    'checkpoint: builtins.eval allow-listed': (
        'dspnet_mm/apis/checkpoint.py',
        "return [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr')]",
        "return [HistoryBuffer, *_numpy_globals(), (_history_buffer_getattr, 'builtins.getattr'), "
        "eval]", ['tests/test_apis/test_checkpoint_security.py']),
    'checkpoint: getattr served for any object': (
        'dspnet_mm/apis/checkpoint.py', 'if obj is HistoryBuffer and name in allowed and',
        'if True or', ['tests/test_apis/test_checkpoint_security.py',
                       'tests/test_apis/test_checkpoint.py']),
    'datasets: hue shift rounded instead of truncated': (
        'dspnet_mm/datasets/transforms.py', 'shift = np.uint8(int(hue_factor * 255) % 256)',
        'shift = np.uint8(round(hue_factor * 255) % 256)',
        ['tests/test_datasets/test_transforms.py']),
}


def copy_repo(dst: str) -> None:
    files = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        os.makedirs(osp.dirname(osp.join(dst, f)) or dst, exist_ok=True)
        shutil.copy2(osp.join(REPO, f), osp.join(dst, f))
    if osp.isdir(osp.join(REPO, 'data')):  # real data the tests read
        os.symlink(osp.join(REPO, 'data'), osp.join(dst, 'data'))


def pytest_in_copy(tests, mutation=None) -> dict:
    """Run ``tests`` in a fresh copy of the repository, with ``mutation`` (path, old, new)
    applied; returns whether they failed, the time and pytest's last line."""
    with tempfile.TemporaryDirectory() as tmp:
        copy_repo(tmp)
        if mutation is not None:
            path, old, new = mutation
            with open(osp.join(tmp, path)) as f:
                text = f.read()
            if text.count(old) != 1:
                raise SystemExit(f'{old!r} occurs {text.count(old)} times in {path}; update '
                                 'tools/dev/mutation_check.py')
            with open(osp.join(tmp, path), 'w') as f:
                f.write(text.replace(old, new))
        env = dict(os.environ, PYTHONPATH=tmp)  # the copy's dspnet_mm before the editable one
        start = time.time()
        out = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-x', '-p', 'no:cacheprovider',
                              *tests], cwd=tmp, env=env, capture_output=True, text=True)
        return dict(failed=out.returncode != 0, seconds=time.time() - start,
                    summary=(out.stdout.strip().splitlines() or [''])[-1])


def run(name: str) -> dict:
    path, old, new, tests = MUTATIONS[name]
    result = pytest_in_copy(tests, (path, old, new))
    return dict(name=name, path=path, tests=tests, caught=result['failed'],
                seconds=result['seconds'], summary=result['summary'])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--only', nargs='+', choices=list(MUTATIONS), metavar='NAME',
                        help='run these mutations only')
    args = parser.parse_args(argv)
    names = args.only or list(MUTATIONS)
    # the tests must pass on the unmutated code, or a "caught" would mean nothing
    tests = sorted({t for n in names for t in MUTATIONS[n][3]})
    clean = pytest_in_copy(tests)
    if clean['failed']:
        print(f'the tests fail without any mutation: {clean["summary"]}', file=sys.stderr)
        return 2
    rows = [run(n) for n in names]
    print('| mutation | file | tests | caught | s |\n| --- | --- | --- | --- | --- |')
    for r in rows:
        tests = ', '.join(osp.basename(t) for t in r['tests'])
        print(f"| {r['name']} | `{r['path']}` | {tests} | "
              f"{'yes' if r['caught'] else '**NO**'} ({r['summary']}) | {r['seconds']:.0f} |")
    caught = sum(r['caught'] for r in rows)
    print(f'\n{caught} of {len(rows)} planted bugs caught; the same tests pass on the '
          f'unmutated code ({clean["summary"]}). Command: `python tools/dev/mutation_check.py`.')
    return 0 if caught == len(rows) else 1


if __name__ == '__main__':
    sys.exit(main())
