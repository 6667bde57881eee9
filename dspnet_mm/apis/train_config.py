"""Loading a training config as ``tools/train.py`` does: overrides that would be silently
ignored are refused, and what mmengine's config inheritance breaks is mended."""
import re
from typing import Any, Dict, List, Optional

from mmengine.config import Config, DictAction

# top-level keys that the Runner (mmengine 0.10.7 ``Runner.from_cfg`` and what it calls) or
# the config loader reads; any other top-level key is a variable, substituted into the entries
# above while the file was parsed
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name', 'model_wrapper_cfg', 'compile',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'custom_imports', 'cfg'})


class CfgOptionsAction(DictAction):
    """``--cfg-options`` as mmengine's ``DictAction``, but a malformed ``KEY=VALUE`` ends the
    tool with one ``error:`` line and status 2 (``DictAction`` ends in a traceback)."""

    def __call__(self, parser, namespace, values, option_string=None):
        bad = [v for v in values if '=' not in v or not v.split('=', 1)[0]]
        if bad:
            parser.exit(2, f'error: {option_string} {bad[0]!r}: expected KEY=VALUE, e.g. '
                           'train_cfg.max_iters=10\n')
        try:
            super().__call__(parser, namespace, values, option_string)
        except Exception as e:  # an unbalanced bracket or quote in a value
            parser.exit(2, f'error: {option_string} {" ".join(values)!r}: {e}\n')


class ConfigOverrideError(ValueError):
    """An override that would change nothing in the run."""


def _plain(x: Any) -> Any:
    """``x`` without the ``_scope_`` keys mmengine adds to inherited dicts."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if k != '_scope_'}
    return [_plain(v) for v in x] if isinstance(x, (list, tuple)) else x


def _paths_with_value(node: Any, value: Any, prefix: str) -> List[str]:
    """Dotted paths under ``node`` whose value equals ``value`` (``_scope_`` aside)."""
    found = []
    if prefix and _plain(node) == _plain(value):
        return [prefix]
    items = (node.items() if isinstance(node, dict)
             else enumerate(node) if isinstance(node, (list, tuple)) else ())
    for k, v in items:
        found += _paths_with_value(v, value, f'{prefix}.{k}' if prefix else str(k))
    return found


def check_overrides(cfg: Config, options: Dict[str, Any]) -> None:
    """Raise ``ConfigOverrideError`` for every ``--cfg-options`` key that cannot take effect:
    a top-level variable (``data_root``, ``max_iters``, ``subnets``...) was substituted when
    the file was parsed, so changing it afterwards changes nothing. The message names the
    keys where its value is actually used."""
    problems = []
    for key in options:
        top, _, rest = key.partition('.')
        shadowed = top == 'data_preprocessor' and 'data_preprocessor' in cfg.get('model', {})
        if top in RUNNER_KEYS and not shadowed:
            continue
        if top not in cfg:
            problems.append(f'{key!r}: {top!r} is not a key of this config or of the Runner')
            continue
        used = [] if shadowed else [
            p for k in sorted(RUNNER_KEYS) if k in cfg
            for p in _paths_with_value(cfg[k], cfg[top], k)]
        number = isinstance(cfg[top], (int, float))
        if number:  # a number equals many unrelated entries
            used = [p for p in used if p.split('.')[-1] in (top, 'end', 'T_max')]
        used = [p + ('.' + rest if rest else '') for p in used]
        if shadowed:
            used = ['model.data_preprocessor' + ('.' + rest if rest else '')]
        where = (f'override {", ".join(used)} instead' if used else
                 'override the entries that use it instead')
        if number:
            where += ' (and what was computed from it, e.g. a scheduler\'s T_max)'
        problems.append(f'{key!r}: top-level {top!r} is a variable substituted when the config '
                        f'was parsed, so overriding it changes nothing; {where}')
    if problems:
        raise ConfigOverrideError('refused --cfg-options: ' + '; '.join(problems))


def drop_collate_scope(cfg: Config) -> None:
    """A config that inherits a ``scope::`` base (``mmselfsup::.../imagenet_byol.py``) gets
    ``_scope_`` added to every dict with a ``type`` in that base, the dataloader's
    ``collate_fn`` included; mmengine then calls ``default_collate(batch, _scope_=...)``,
    a TypeError. A collate function is not built from a scoped registry: drop the key."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        collate = (cfg.get(name) or {}).get('collate_fn')
        if isinstance(collate, dict):
            collate.pop('_scope_', None)


def load_train_config(path: str, options: Optional[Dict[str, Any]] = None) -> Config:
    """``Config.fromfile(path)`` with the ``--cfg-options`` ``options`` merged, after
    :func:`check_overrides`, and :func:`drop_collate_scope` applied."""
    cfg = Config.fromfile(path)
    if options:
        check_overrides(cfg, options)
        cfg.merge_from_dict(options)
    drop_collate_scope(cfg)
    return cfg


def _dataset_nodes(ds: Any):
    """A dataset config and those it wraps (RepeatDataset, ConcatDataset...)."""
    if isinstance(ds, dict):
        yield ds
        yield from _dataset_nodes(ds.get('dataset'))
        for sub in ds.get('datasets') or []:
            yield from _dataset_nodes(sub)


def _missing_data_paths(ds: dict) -> List[str]:
    """``'key' -> path`` descriptions of the local paths a dataset config names that do not
    exist (joined with ``data_root`` as mmengine's ``BaseDataset`` joins them)."""
    import os.path as osp
    root = ds.get('data_root') or ''
    prefix = ds.get('data_prefix')
    paths = [('data_root', root)] if root else []
    if isinstance(prefix, str):
        paths.append(('data_prefix', osp.join(root, prefix) if root else prefix))
    elif isinstance(prefix, dict):
        paths += [(f'data_prefix.{k}', osp.join(root, v) if root else v)
                  for k, v in prefix.items() if isinstance(v, str) and v]
    ann = ds.get('ann_file')
    if isinstance(ann, str) and ann:
        paths.append(('ann_file', osp.join(root, ann) if root else ann))
    return [f'{key}={path!r}' for key, path in paths
            if '://' not in path and not osp.exists(path)]


def check_train_inputs(cfg: Config, hint: str = ''):
    """Check before any work what ``Runner.from_cfg(cfg).train()`` would find wrong late:
    the training data paths exist and the model builds. Raises ``FileNotFoundError`` naming
    the missing path and its config key (and ``hint``), or the model's own error. Returns the
    model."""
    from mmengine.registry import MODELS, DefaultScope
    from dspnet_mm.datasets.fashion_mnist import PREPARE
    for ds in _dataset_nodes(cfg.get('train_dataloader', {}).get('dataset')):
        missing = _missing_data_paths(ds)
        if missing:
            extra = ('; prepare it with: ' + PREPARE.format(root=ds.get('data_prefix'))
                     if 'FashionMNIST' in str(ds.get('type')) else '')
            raise FileNotFoundError(
                f"training data not found: train_dataloader.dataset ({ds.get('type')}) "
                f"{', '.join(missing)} does not exist{extra}{'; ' + hint if hint else ''}")
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        return MODELS.build(cfg.model)


def remove_stale_checkpoint_temporaries(cfg: Config) -> list:
    """Temporary checkpoint files that a killed run left in the work dir (``.iter_8.pth.<pid>
    .<rand>.partial``), removed before a run starts or resumes; returns their paths. Saves
    remove them too (:func:`dspnet_mm.engine.atomic_backend.atomic_write`)."""
    import os.path as osp

    from dspnet_mm.engine.atomic_backend import remove_stale_temporaries
    work_dir = cfg.get('work_dir')
    return remove_stale_temporaries(work_dir) if work_dir and osp.isdir(work_dir) else []


_CHECKPOINT_NAME = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` without a path continues from: the one
    ``work_dir/last_checkpoint`` names, if that file exists and is not empty; otherwise the
    ``iter_N.pth`` / ``epoch_N.pth`` of the work dir written last. None if there is none."""
    import os
    import os.path as osp
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named) and osp.getsize(named) > 0:
            return named
    found = [osp.join(work_dir, n) for n in (os.listdir(work_dir) if osp.isdir(work_dir) else [])
             if _CHECKPOINT_NAME.match(n)]
    found = [p for p in found if osp.getsize(p) > 0]
    return max(found, key=osp.getmtime) if found else None


def check_resume_checkpoint(path: str, model) -> dict:
    """Check that ``path`` holds a training state (weights, optimizer, message hub, epoch and
    iteration) of ``model``'s architecture before the Runner starts (and writes into the work
    dir). Returns the checkpoint's ``meta``; raises ``CheckpointError`` saying what is wrong."""
    from dspnet_mm.apis.checkpoint import CheckpointError, load_checkpoint_safely
    ckpt = load_checkpoint_safely(path)
    missing = [k for k in ('state_dict', 'optimizer', 'message_hub', 'meta') if k not in ckpt]
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    missing += [f'meta.{k}' for k in ('epoch', 'iter') if k not in meta]
    if missing:
        raise CheckpointError(
            f'cannot resume from {path!r}: it holds no training state ({", ".join(missing)} '
            'missing; a slimmed or exported checkpoint has weights only). Start a new run '
            'from its weights with --cfg-options load_from=... instead of --resume')
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in ckpt['state_dict'].items()}
    unknown = sorted(set(theirs) - set(ours))
    absent = sorted(set(ours) - set(theirs))
    reshaped = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    if unknown or absent or reshaped:
        detail = '; '.join(f'{what}: {len(keys)} (e.g. {keys[0]})' for what, keys in (
            ('tensors this model lacks', unknown), ('tensors of this model missing', absent),
            ('tensors of another shape', reshaped)) if keys)
        raise CheckpointError(
            f'cannot resume from {path!r}: it holds the training state of another model '
            f'than this config\'s {type(model).__name__} ({detail}). Resume with the config '
            'that wrote it, or use another work dir')
    return meta


def describe_run(runner, config_path: str) -> List[str]:
    """The first screen of a training run: the config, work dir and log file; the DNs of a
    supernet (name, widths, depths, GFLOPs, parameters) or the model's size; the data; where
    checkpoints go; the checkpoint a resume starts from. Builds the train loop (and so the
    dataset) that ``runner.train()`` would build first."""
    import os.path as osp

    from mmengine.hooks import CheckpointHook
    from mmengine.model import is_model_wrapper
    from mmengine.runner import EpochBasedTrainLoop
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    backbone = getattr(model, 'backbone', None)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines = [f'config: {config_path}',
             f'work dir: {runner.work_dir} (full log: '
             f'{osp.join(runner.log_dir, runner.timestamp + ".log")})',
             f'model: {type(model).__name__}, backbone {type(backbone).__name__}, '
             f'{trained / 1e6:.2f} M trained parameters']
    subnets = getattr(backbone, 'subnets', None)
    if subnets and hasattr(backbone, 'resolve'):
        from dspnet_mm.apis.slim import subnet_summary
        rows = [(name, subnet_summary(backbone, name)) for name in subnets]
        size = rows[0][1]['input_shape'][-1]
        lines.append(f"  {'DN':<14}{'widths':<26}{'depths':<14}"
                     f"{f'GFLOPs@{size}px':>13}{'Mparams':>9}")
        lines += [f"  {name:<14}{str(r['spec']['widths']):<26}{str(r['spec']['depths']):<14}"
                  f"{r['flops'] / 1e9:>13.3f}{r['params'] / 1e6:>9.2f}" for name, r in rows]
    loop, loader = runner.train_loop, runner.train_dataloader
    dataset = getattr(loader.dataset, 'dataset', loader.dataset)
    schedule = (f'{loop.max_epochs} epochs = {loop.max_iters} iterations'
                if isinstance(loop, EpochBasedTrainLoop) else f'{loop.max_iters} iterations')
    lines.append(f'data: {type(dataset).__name__}, {len(loader.dataset)} images, batch '
                 f'{loader.batch_size} x {runner.world_size} process(es), {len(loader)} '
                 f'iterations per epoch; {schedule}')
    hook = next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
    if hook is not None:
        every = f"every {hook.interval} {'epochs' if hook.by_epoch else 'iterations'}"
        if getattr(hook, 'iter_interval', None):
            every += f' and every {hook.iter_interval} iterations inside an epoch'
        lines.append(f'checkpoints: {every}, to {hook.out_dir or runner.work_dir}; SIGTERM '
                     'saves one and exits with status 75')
    if runner.cfg.get('resume') and runner.cfg.get('load_from'):
        lines.append(f"resume: from {runner.cfg.load_from}")
    return lines
