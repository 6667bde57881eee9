"""Train a dspnet_mm (or any mmselfsup) config, as mmselfsup's tools/train.py.

    python tools/train.py configs/dspnet_r18_fmnist.py [--work-dir DIR] [--resume [CKPT]]
    bash tools/dist_train.sh configs/dspnet_r50.py 8
"""
import os
import os.path as osp
import sys
import warnings

# mmengine 0.10.7 and mmcv import pkg_resources, which warns on every start: upstream noise
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import dspnet_mm  # noqa: F401  (registers our modules and the checkpoint allow-list)
from dspnet_mm.apis import cli
from dspnet_mm.engine.optimizers import bf16_unsupported_message
from dspnet_mm.apis.train_config import (ConfigOverrideError, check_train_inputs,
                                         load_train_config, remove_stale_checkpoint_temporaries)

DATA_HINT = ('point the config at the data with --cfg-options '
             'train_dataloader.dataset.data_root=... (data_prefix=... for CIFAR and '
             'Fashion-MNIST); layouts: README, "Train at paper scale"')


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
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args) -> Config:
    if not osp.isfile(args.config):
        raise cli.UsageError(f'config {args.config!r} does not exist')
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
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise cli.UsageError(f'--resume {args.resume!r} does not exist; give a checkpoint '
                                 'file, or --resume alone for the latest one in the work dir')
        cfg.resume, cfg.load_from = True, args.resume
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
    and give DDP no device ids (CPU modules)."""
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
    check_train_inputs(cfg, DATA_HINT)
    for path in remove_stale_checkpoint_temporaries(cfg):
        print(f'removed {path}: a temporary file of a run that was killed mid-save')
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    try:
        runner.train()
    except FileNotFoundError as e:  # the data is elsewhere (or not unpacked)
        raise cli.UsageError(f'{cli.describe(e)}; {DATA_HINT}') from e
    return 0


def main(argv=None):
    return cli.run(work, parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
