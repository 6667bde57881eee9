"""A desired network split for C4 detectors, as mmdet's ``ResNet(num_stages=3)`` + ``ResLayer``:
``SlimmableResNetTrunk`` runs the first three stages on the image, ``SubnetResLayer`` the last
stage on RoIs. Both are built by ``PlainResNet`` itself, so widths, depths and key names
(``layer4.0.conv1.weight``...) are those of the slimmed checkpoint."""
import copy
from typing import Mapping, Optional

from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from dspnet_mm.registry import MODELS
from .plain_resnet import PlainResNet

NUM_STAGES = 4


@MODELS.register_module()
class SlimmableResNetTrunk(PlainResNet):
    """The first ``num_stages`` stages of a :class:`PlainResNet`: the backbone of a C4
    detector (mmdet's ``ResNet(num_stages=3)``). :class:`SubnetResLayer` runs the next stage.

    Args:
        num_stages: stages kept (1-3).
        strides, dilations: one value per kept stage, as mmdet's ``ResNet``.
        Other arguments as :class:`PlainResNet`; ``subnet`` is required.
    """

    def __init__(self, depth: int, num_stages: int = 3, strides=(1, 2, 2), dilations=(1, 1, 1),
                 out_indices=(2, ), frozen_stages: int = -1, **kwargs):
        if kwargs.get('subnet') is None:
            raise ValueError('SlimmableResNetTrunk needs subnet=... (a desired network)')
        if not 1 <= num_stages < NUM_STAGES:
            raise ValueError(f'num_stages {num_stages} must be in 1..{NUM_STAGES - 1}')
        if len(strides) != num_stages or len(dilations) != num_stages:
            raise ValueError(f'strides {tuple(strides)} and dilations {tuple(dilations)} need '
                             f'{num_stages} values (one per kept stage)')
        if any(i >= num_stages for i in out_indices) or frozen_stages > num_stages:
            raise ValueError(f'out_indices {tuple(out_indices)} and frozen_stages '
                             f'{frozen_stages} must refer to the {num_stages} kept stages')
        dropped = NUM_STAGES - num_stages
        super().__init__(depth, strides=tuple(strides) + (2, ) * dropped,
                         dilations=tuple(dilations) + (1, ) * dropped, out_indices=out_indices,
                         frozen_stages=frozen_stages, **kwargs)
        for name in self.res_layers[num_stages:]:
            delattr(self, name)
        self.res_layers = self.res_layers[:num_stages]
        self.num_stages = num_stages


@MODELS.register_module()
class SubnetResLayer(BaseModule):
    """One stage of a slimmed network as the RoI shared head of a C4 detector (mmdet's
    ``ResLayer`` for a desired network). Input (R, C_in, 14, 14) RoI features, output
    (R, C_out, 7, 7) for ``stride=2``, with C_in, C_out the subnet's widths of the stages.

    Args:
        backbone: the detector's backbone config (filled in by ``WithSubnetChannels`` with
            ``from_backbone={'roi_head.shared_head.backbone': 'backbone'}``); its network is
            built and stage ``stage`` kept, named ``layer{stage + 1}`` as in the checkpoint.
        stage: stage index counted from 0 (3 = the last stage).
        stride, dilation, style, norm_cfg, norm_eval: as mmdet's ``ResLayer``.
        extra_norm: a norm layer after the stage (MoCo / mmselfsup's ``ResLayerExtraNorm``).
        init_cfg: default: the backbone's ``Pretrained`` init_cfg (the stage is part of the
            same slimmed checkpoint), else Kaiming.
    """

    def __init__(self, backbone: Optional[Mapping] = None, stage: int = 3, stride: int = 2,
                 dilation: int = 1, style: str = 'pytorch',
                 norm_cfg=dict(type='BN', requires_grad=True), norm_eval: bool = True,
                 extra_norm: bool = False, init_cfg=None):
        if backbone is None:
            raise ValueError("SubnetResLayer needs the backbone config: build the detector "
                             "with type='dspnet_mm.WithSubnetChannels' and from_backbone="
                             "{'roi_head.shared_head.backbone': 'backbone', ...}")
        pretrained = backbone.get('init_cfg')
        if init_cfg is None:
            init_cfg = copy.deepcopy(pretrained) if is_pretrained(pretrained) else [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg)
        if not 0 < stage < NUM_STAGES:
            raise ValueError(f'stage {stage} must be in 1..{NUM_STAGES - 1}')
        strides, dilations = [1, 2, 2, 2], [1, 1, 1, 1]
        strides[stage], dilations[stage] = stride, dilation
        arch = {k: backbone[k] for k in ('depth', 'subnet', 'subnets', 'in_channels',
                                         'stem_channels', 'base_channels', 'small_input')
                if k in backbone}
        # the whole network is built once so that this stage comes from the same code (and
        # channel arithmetic) as the trunk; the other stages are dropped
        if arch.get('subnet') is None:
            raise ValueError('SubnetResLayer needs a backbone config with subnet=...')
        network = PlainResNet(**arch, strides=strides, dilations=dilations, style=style,
                              norm_cfg=norm_cfg, out_indices=(stage, ))
        self.stage, self.norm_eval = stage, norm_eval
        self.layer_name = f'layer{stage + 1}'
        self.add_module(self.layer_name, getattr(network, self.layer_name))
        self.out_channels = network.out_channels[0]
        self.norm = build_norm_layer(norm_cfg, self.out_channels)[1] if extra_norm else None

    def forward(self, x):
        x = getattr(self, self.layer_name)(x)
        return x if self.norm is None else self.norm(x)

    def train(self, mode=True):
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def is_pretrained(init_cfg) -> bool:
    return isinstance(init_cfg, Mapping) and init_cfg.get('type') == 'Pretrained'
