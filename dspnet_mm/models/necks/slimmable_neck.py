"""Projector whose first layer takes any sub-network's feature width."""
from mmselfsup.models.necks import NonLinearNeck

from dspnet_mm.registry import MODELS
from ..slimmable.slimmable_ops import SlimmableLinear


@MODELS.register_module()
class SlimmableNonLinearNeck(NonLinearNeck):
    """mmselfsup's ``NonLinearNeck`` (pool - fc - bn - relu - fc ...) whose first fc reads the
    first ``C`` of its ``in_channels`` inputs, where ``C`` is the width of the incoming feature
    map. All later layers are shared by every sub-network. Same arguments and key names as
    ``NonLinearNeck``."""

    def __init__(self, in_channels: int, hid_channels: int, *args, with_bias=False, **kwargs):
        super().__init__(in_channels, hid_channels, *args, with_bias=with_bias, **kwargs)
        self.fc0 = SlimmableLinear(in_channels, hid_channels, bias=with_bias)
