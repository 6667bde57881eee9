"""How dspnet_mm's modules reach the OpenMMLab registries (one place).

Our registries are children of mmengine's roots with scope ``dspnet_mm``, so configs of any
scope (mmdet, mmseg, mmcls) find ``type='dspnet_mm.SlimmableResNet'``. Each registration is
mirrored into mmselfsup's registry of the same kind, so mmselfsup configs
(``default_scope='mmselfsup'``) find our types by plain name, e.g. ``type='SlimmableResNet'``.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry
from mmselfsup.registry import DATASETS as MMSELFSUP_DATASETS
from mmselfsup.registry import HOOKS as MMSELFSUP_HOOKS
from mmselfsup.registry import LOOPS as MMSELFSUP_LOOPS
from mmselfsup.registry import MODELS as MMSELFSUP_MODELS
from mmselfsup.registry import TRANSFORMS as MMSELFSUP_TRANSFORMS

from dspnet_mm import compat


class MirroredRegistry(Registry):
    """A registry that also registers every module in ``mirror`` under the same name."""

    def __init__(self, *args, mirror: Registry, **kwargs):
        super().__init__(*args, **kwargs)
        self.mirror = mirror

    def _register_module(self, module, module_name=None, force=False):  # see dspnet_mm.compat
        super()._register_module(module, module_name, force)
        compat.register_module(self.mirror, module, module_name, force)


MODELS = MirroredRegistry('model', parent=MMENGINE_MODELS, scope='dspnet_mm',
                          locations=['dspnet_mm.models'], mirror=MMSELFSUP_MODELS)
HOOKS = MirroredRegistry('hook', parent=MMENGINE_HOOKS, scope='dspnet_mm',
                         locations=['dspnet_mm.engine'], mirror=MMSELFSUP_HOOKS)
LOOPS = MirroredRegistry('loop', parent=MMENGINE_LOOPS, scope='dspnet_mm',
                         locations=['dspnet_mm.engine'], mirror=MMSELFSUP_LOOPS)
TRANSFORMS = MirroredRegistry('transform', parent=MMENGINE_TRANSFORMS, scope='dspnet_mm',
                              locations=['dspnet_mm.datasets'], mirror=MMSELFSUP_TRANSFORMS)
# ``init_cfg=dict(type='dspnet_mm.StrictPretrained', ...)`` from any scope
WEIGHT_INITIALIZERS = Registry('weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS,
                               scope='dspnet_mm', locations=['dspnet_mm.apis'])
DATASETS = MirroredRegistry('dataset', parent=MMENGINE_DATASETS, scope='dspnet_mm',
                            locations=['dspnet_mm.datasets'], mirror=MMSELFSUP_DATASETS)


def _drop_missing_mmselfsup_locations():
    """mmselfsup 1.0.0 lists ``mmselfsup.engine.runner`` (which it does not ship) as the
    location of its RUNNERS, RUNNER_CONSTRUCTORS and LOOPS registries, so the first lookup of
    a loop in ``default_scope='mmselfsup'`` fails with ModuleNotFoundError. Keep only the
    locations that exist."""
    import importlib.util

    import mmselfsup.registry as mmselfsup_registry

    def exists(name):
        try:
            return importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            return False

    for registry in vars(mmselfsup_registry).values():
        if isinstance(registry, Registry) and compat.registry_locations(registry):
            compat.set_registry_locations(
                registry, [loc for loc in compat.registry_locations(registry) if exists(loc)])


_drop_missing_mmselfsup_locations()
