"""Train a dspnet_mm (or any mmselfsup) config, as mmselfsup's tools/train.py.

    python tools/train.py configs/dspnet_r18_fmnist.py [--work-dir DIR] [--resume [CKPT]]
        [--verbose]
    bash tools/dist_train.sh configs/dspnet_r50.py 8

Exit status: 0 finished; 75 stopped by SIGTERM after saving a checkpoint (resume with
--resume; tools/slurm_train.sh requeues the job); 2 a bad argument or input (one ``error:``
line); 1 a failure. docs/training.md: preemption, resume, slurm, the log.
"""
import os
import os.path as osp
import sys
import warnings

# mmengine 0.10.7 and mmcv import pkg_resources, which warns on every start: upstream noise
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)
# mmcls's MNIST reader hands torch a read-only numpy array it never writes to
warnings.filterwarnings('ignore', message='The given NumPy array is not writable',
                        category=UserWarning)

import torch
import torch.distributed as dist
from mmengine.config import Config

import dspnet_mm  # noqa: F401  (registers our modules and the checkpoint allow-list)
from dspnet_mm.apis import cli
from dspnet_mm.engine.optimizers import bf16_unsupported_message
from dspnet_mm.apis.train_config import (CfgOptionsAction, ConfigOverrideError,
                                         check_resume_checkpoint,
                                         check_train_inputs, describe_run,
                                         find_resume_checkpoint, load_train_config,
                                         remove_stale_checkpoint_temporaries)
from dspnet_mm.engine.hooks import EXIT_PREEMPTED, TrainingPreempted
from dspnet_mm.engine.runner import TrainRunner, VerboseTrainRunner

DATA_HINT = ('point the config at the data with --cfg-options '
             'train_dataloader.dataset.data_root=... (data_prefix=... for CIFAR and '
             'Fashion-MNIST); layouts: README, "Train at paper scale"')


# what each launcher reads from the environment its starter sets
LAUNCHER_ENV = dict(
    pytorch=(('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
             'start it with tools/dist_train.sh (torchrun)'),
    slurm=(('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
           'not inside a slurm job step; start it with tools/slurm_train.sh (or srun)'),
    mpi=(('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'), 'start it with mpirun'))


def check_launcher(launcher: str) -> None:
    if launcher not in LAUNCHER_ENV:
        return
    names, how = LAUNCHER_ENV[launcher]
    unset = [n for n in names if n not in os.environ]
    if unset:
        if launcher == 'slurm':
            raise cli.UsageError(f'--launcher slurm: {how} ({", ".join(unset)} unset)')
        raise cli.UsageError(f'--launcher {launcher}: {", ".join(unset)} unset; {how}')


def parse_args(argv=None):
    parser = cli.ArgumentParser(description='Train a self-supervised model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work '
                        'dir when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: fp16 with loss scaling on a GPU, bf16 on a CPU '
                        'with bf16 instructions (an error on one without)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate linearly with the total batch size '
                        '(GPUs x train_dataloader.batch_size) against the config\'s '
                        'auto_scale_lr.base_batch_size, as mmselfsup\'s tools/train.py')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--verbose', action='store_true',
                        help="mmengine's full console output: environment, config, one line "
                        'per parameter option (the log file in the work dir always has it)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args) -> Config:
    if not osp.isfile(args.config):
        raise cli.UsageError(f'config {args.config!r} does not exist')
    check_launcher(args.launcher)
    cfg = load_train_config(args.config, args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ConfigOverrideError(f'--auto-scale-lr: {args.config} sets no '
                                      'auto_scale_lr.base_batch_size to scale from')
        cfg.auto_scale_lr.enable = True
    if args.amp:
        set_amp(cfg)
    if args.resume == 'auto':
        found = find_resume_checkpoint(cfg.work_dir)
        if found is None:
            print(f'--resume: no checkpoint in {cfg.work_dir} yet; training from the start')
        cfg.resume, cfg.load_from = found is not None, found or cfg.get('load_from')
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise cli.UsageError(f'--resume {args.resume!r} does not exist; give a checkpoint '
                                 'file, or --resume alone for the latest one in the work dir')
        cfg.resume, cfg.load_from = True, args.resume
    # SIGTERM (slurm's preemption / time-limit warning): finish the iteration, save, exit 75
    hooks = cfg.get('custom_hooks') or []
    if not isinstance(hooks, (list, tuple)) or not all(isinstance(h, dict) for h in hooks):
        raise cli.UsageError(f'custom_hooks={hooks!r} is not a list of hook configs '
                             '(dict(type=...))')
    if not any(str(h.get('type', '')).endswith('PreemptionHook') for h in hooks):
        cfg.custom_hooks = [*hooks, dict(type='dspnet_mm.PreemptionHook')]
    return cfg


def set_amp(cfg: Config) -> None:
    """``--amp``: mmengine's ``AmpOptimWrapper`` (fp16 with loss scaling) on a GPU; bf16
    autocast (``CPUAmpOptimWrapper``) on a CPU, which must have bf16 instructions."""
    wrapper = cfg.optim_wrapper
    ours = {k: wrapper.pop(k) for k in ('dtype', 'channels_last', 'on_unsupported')
            if k in wrapper}
    if torch.cuda.is_available():
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        return
    problem = bf16_unsupported_message('--amp')
    if problem:
        raise cli.UsageError(problem)
    wrapper.type = 'CPUAmpOptimWrapper'
    wrapper.update(dtype='bfloat16', on_unsupported='error',
                   channels_last=ours.get('channels_last', True))


def prepare_cpu_distributed(cfg):
    """Distributed training on a machine without GPUs. mmengine's pytorch launcher calls
    ``torch.cuda.set_device`` and gives DDP ``device_ids=[LOCAL_RANK]`` unconditionally: start
    the process group here (gloo, env:// from torchrun), so the Runner finds it initialised,
    and give DDP no device ids (CPU modules); SyncBN layers become BN (TrainRunner)."""
    if cfg.launcher != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend', 'gloo')
    if backend != 'gloo':
        print(f'no GPU: using the gloo backend instead of {backend!r}', file=sys.stderr)
    dist.init_process_group(backend='gloo')


def work(args):
    cfg = build_config(args)
    # everything that can be checked is checked before the Runner starts: the data paths
    # and the model (e.g. num_random=-1 fails here, not after the config dump)
    model = check_train_inputs(cfg, DATA_HINT)
    if cfg.get('resume') and cfg.get('load_from'):  # before the Runner writes anything
        check_resume_checkpoint(cfg.load_from, model)
    del model
    for path in remove_stale_checkpoint_temporaries(cfg):
        print(f'removed {path}: a temporary file of a run that was killed mid-save')
    prepare_cpu_distributed(cfg)
    runner = (VerboseTrainRunner if args.verbose else TrainRunner).from_cfg(cfg)
    try:
        for line in describe_run(runner, args.config):
            runner.logger.info(line)
        runner.train()
    except FileNotFoundError as e:  # the data is elsewhere (or not unpacked)
        raise cli.UsageError(f'{cli.describe(e)}; {DATA_HINT}') from e
    except TrainingPreempted as e:  # state saved: the job may be requeued
        runner.logger.warning(str(e))
        return EXIT_PREEMPTED
    finally:
        # gloo's threads outlive an undestroyed group: a rank could then abort at exit
        # ("terminate called without an active exception", status -6) after a good run
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def main(argv=None):
    return cli.run(work, parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
