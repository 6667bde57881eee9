"""tools/slurm_train.sh against stand-ins for sbatch, srun and scontrol: the job asks for
requeueing and a warning signal, every start resumes, and a training run that stopped on
SIGTERM (status 75) requeues the job."""
import os
import subprocess

import pytest

from conftest import REPO

STUB = '''#!/usr/bin/env bash
for a in "$@"; do printf '%s\\n' "$a"; done > "$LOG/{name}.args"
{body}
'''


@pytest.fixture
def slurm(tmp_path):
    bin_dir, log = tmp_path / 'bin', tmp_path / 'log'
    bin_dir.mkdir()
    log.mkdir()
    stubs = dict(sbatch='cat > "$LOG/batch.sh"; echo "Submitted batch job 42"',
                 srun='exit "${SRUN_STATUS:-0}"', scontrol='')
    for name, body in stubs.items():
        path = bin_dir / name
        path.write_text(STUB.format(name=name, body=body))
        path.chmod(0o755)
    env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', LOG=str(log), GPUS='2',
               GPUS_PER_NODE='2', SLURM_JOB_ID='42')
    work_dir = tmp_path / 'work dir'
    out = subprocess.run(['bash', os.path.join(REPO, 'tools', 'slurm_train.sh'), 'gpu', 'dsp',
                          'configs/dspnet_r50.py', str(work_dir), '--cfg-options',
                          'train_dataloader.dataset.data_root=/data/image net'],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return env, log, work_dir


def lines(path):
    return path.read_text().splitlines() if path.exists() else None


def test_job_requests_requeue_and_a_warning_signal(slurm):
    env, log, work_dir = slurm
    args = lines(log / 'sbatch.args')
    assert '--requeue' in args and '--signal=TERM@300' in args
    assert f'--output={work_dir}/slurm-%j.out' in args and '--open-mode=append' in args
    assert work_dir.is_dir()


@pytest.mark.parametrize('status, requeued', [(75, True), (0, False), (1, False)])
def test_a_start_resumes_and_requeues_only_after_a_saved_stop(slurm, status, requeued):
    env, log, work_dir = slurm
    run = subprocess.run(['bash', str(log / 'batch.sh')], capture_output=True, text=True,
                         env=dict(env, SRUN_STATUS=str(status)), timeout=60)
    assert run.returncode == status
    train = lines(log / 'srun.args')
    assert train[-6:] == ['configs/dspnet_r50.py', f'--work-dir={work_dir}',
                          '--launcher=slurm', '--resume', '--cfg-options',
                          'train_dataloader.dataset.data_root=/data/image net']
    assert train[train.index('-u') + 1].endswith('tools/train.py')
    assert lines(log / 'scontrol.args') == (['requeue', '42'] if requeued else None)
