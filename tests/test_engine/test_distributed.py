"""2 processes on CPU (gloo) through tools/dist_train.sh: no hang, no unused-parameter error,
the same sub-networks and the same weights on both ranks."""
import os
import subprocess
import textwrap

import torch

import dspnet_mm  # noqa: F401
from conftest import REPO

DATA = os.path.join(REPO, 'data', 'fashion_mnist')

HOOK = textwrap.dedent('''
    import torch
    from mmengine.dist import get_rank
    from mmengine.hooks import Hook
    from mmselfsup.registry import HOOKS


    @HOOKS.register_module()
    class DumpRankStateHook(Hook):
        """Test helper: each rank saves its weights and the sub-networks it sampled."""

        def __init__(self, out_dir):
            self.out_dir, self.sampled = out_dir, []

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            if hasattr(model, 'sampler'):
                self.sampled.append(model.sampler.sample())

        def after_train(self, runner):
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            params = {k: v.detach() for k, v in model.named_parameters()}
            torch.save(dict(params=params, sampled=self.sampled),
                       f'{self.out_dir}/rank{get_rank()}.pth')
''')


def run_two_ranks(tmp_path, config, extra=()):
    (tmp_path / 'rank_dump_hook.py').write_text(HOOK)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent(f'''
        _base_ = [{os.path.join(REPO, 'configs', config)!r}]
        custom_imports = dict(imports=['dspnet_mm', 'rank_dump_hook'],
                              allow_failed_imports=False)
        custom_hooks = [dict(type='DumpRankStateHook', out_dir={str(tmp_path)!r})]
    '''))
    env = dict(os.environ, PYTHONPATH=f'{tmp_path}:{os.environ.get("PYTHONPATH", "")}',
               PYTHON=os.path.join(REPO, '.venv', 'bin', 'python'), PORT='29512',
               OMP_NUM_THREADS='1')
    cmd = ['bash', os.path.join(REPO, 'tools', 'dist_train.sh'), str(cfg), '2', '--work-dir', str(tmp_path / 'work'),
           '--cfg-options', 'train_cfg.max_iters=3', 'train_dataloader.batch_size=8',
           'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
           f'train_dataloader.dataset.data_prefix={DATA}', 'train_dataloader.dataset.indices=64',
           *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr[-4000:]
    return [torch.load(tmp_path / f'rank{r}.pth', weights_only=False) for r in (0, 1)]


def test_dspnet_two_processes(tmp_path):
    r0, r1 = run_two_ranks(tmp_path, 'dspnet_r18_fmnist.py')
    assert r0['sampled'] == r1['sampled'] and len(r0['sampled']) == 3
    # DDP averages gradients: every parameter (online network, heads, EMA target) is equal;
    # BN running statistics stay per rank unless SyncBN is configured
    assert len(r0['params']) > 100
    for k, v in r0['params'].items():
        assert torch.allclose(v, r1['params'][k], atol=1e-6), k


def test_vicreg_dual_gating_two_processes(tmp_path):
    r0, r1 = run_two_ranks(tmp_path, 'vicreg-dual-gating_r18_fmnist.py')
    assert len(r0['params']) > 50
    for k, v in r0['params'].items():
        assert torch.allclose(v, r1['params'][k], atol=1e-6), k
