"""Loading a training config as ``tools/train.py`` does: overrides that would be silently
ignored are refused, and what mmengine's config inheritance breaks is mended."""
from typing import Any, Dict, List, Optional

from mmengine.config import Config

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


def check_train_inputs(cfg: Config, hint: str = '') -> None:
    """Check before any work what ``Runner.from_cfg(cfg).train()`` would find wrong late:
    the training data paths exist and the model builds. Raises ``FileNotFoundError`` naming
    the missing path and its config key (and ``hint``), or the model's own error."""
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
        MODELS.build(cfg.model)


def remove_stale_checkpoint_temporaries(cfg: Config) -> list:
    """Temporary checkpoint files that a killed run left in the work dir (``.iter_8.pth.<pid>
    .<rand>.partial``), removed before a run starts or resumes; returns their paths. Saves
    remove them too (:func:`dspnet_mm.engine.atomic_backend.atomic_write`)."""
    import os.path as osp

    from dspnet_mm.engine.atomic_backend import remove_stale_temporaries
    work_dir = cfg.get('work_dir')
    return remove_stale_temporaries(work_dir) if work_dir and osp.isdir(work_dir) else []
