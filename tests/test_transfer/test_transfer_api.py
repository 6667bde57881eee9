"""dspnet_mm.apis.transfer: the C4 split is exact, channel derivation and the checkpoint check
fail with messages that say what to change."""
import pytest
import torch
from mmengine.registry import MODELS

from dspnet_mm.apis import (CheckpointError, SlimmableResNetTrunk, SubnetResLayer,
                            load_checkpoint_safely, with_subnet_channels)
from dspnet_mm.models import SlimmableResNet
from .conftest import SUPERNET


def backbone_cfg(subnet, checkpoint=None, **kwargs):
    kind = 'SlimmableResNet' if subnet is None else 'PlainResNet'  # a supernet / one network
    cfg = dict(type=f'dspnet_mm.{kind}', depth=18, stem_channels=16, base_channels=16,
               subnets=SUPERNET['subnets'], subnet=subnet, out_indices=(0, 1, 2, 3), **kwargs)
    if checkpoint:
        cfg['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
    return cfg


def test_c4_trunk_and_roi_stage_compute_the_slimmed_network(slimmed):
    """Trunk (stages 1-3) followed by SubnetResLayer (stage 4) = the plain slimmed network,
    both reading the slimmed checkpoint as it is."""
    state = load_checkpoint_safely(slimmed['r10_mixed'])['state_dict']
    cfg = backbone_cfg('r10_mixed')
    cfg.pop('type')
    full = SlimmableResNet(**dict(cfg, out_indices=(3, ))).eval()
    full.load_state_dict(state)
    trunk = SlimmableResNetTrunk(**dict(cfg, out_indices=(2, ), strides=(1, 2, 2),
                                        dilations=(1, 1, 1))).eval()
    head = SubnetResLayer(backbone=cfg, stage=3, stride=2).eval()
    assert trunk.load_state_dict(state, strict=False).missing_keys == []
    assert head.load_state_dict(state, strict=False).missing_keys == []
    assert not hasattr(trunk, 'layer4') and trunk.res_layers == ['layer1', 'layer2', 'layer3']
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(head(trunk(x)[0]), full(x)[0], atol=1e-5)
    assert head.out_channels == 96  # r10_mixed: stage-4 width 0.75 of 128


def test_shared_head_defaults_to_the_backbone_checkpoint(slimmed):
    head = SubnetResLayer(backbone=backbone_cfg('r18_w05', slimmed['r18_w05']))
    assert head.init_cfg == dict(type='Pretrained', checkpoint=slimmed['r18_w05'])
    head.init_weights()
    expected = load_checkpoint_safely(slimmed['r18_w05'])['state_dict']
    assert torch.equal(head.layer4[0].conv1.weight, expected['layer4.0.conv1.weight'])


def test_derived_channels_reach_the_upstream_model():
    model = MODELS.build(dict(
        type='dspnet_mm.WithSubnetChannels', model_type='mmcls.ImageClassifier',
        from_backbone={'head.in_channels': 3},
        backbone=backbone_cfg('r10_mixed'), neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=2048)))
    assert type(model).__name__ == 'ImageClassifier' and model.head.fc.in_features == 96
    assert model.eval()(torch.randn(1, 3, 32, 32), mode='tensor').shape == (1, 3)


def test_a_checkpoint_of_another_network_is_refused(slimmed):
    with pytest.raises(CheckpointError) as e:
        with_subnet_channels('mmcls.ImageClassifier', {'head.in_channels': 3},
                             backbone=backbone_cfg('r18_w05', slimmed['r10_mixed']),
                             head=dict(type='LinearClsHead', num_classes=3, in_channels=1))
    msg = str(e.value)
    assert "holds desired network 'r10_mixed'" in msg and "selects subnet 'r18_w05'" in msg
    assert 'model.backbone.subnet=NAME' in msg
    with pytest.raises(CheckpointError, match='must be slimmed first'):  # the supernet itself
        with_subnet_channels('mmcls.ImageClassifier', {},
                             backbone=backbone_cfg('r18_w05', slimmed['pretrain']))


@pytest.mark.parametrize('from_backbone,match', [
    ({'neck.in_channels': [0, 1]}, "the model config has no 'neck'"),
    ({'head.in_channels': 4}, r'expected a stage index in 0\.\.3'),
    ({'head.in_channels': 'stages'}, "must be 'backbone'"),
])
def test_from_backbone_errors(from_backbone, match):
    with pytest.raises(ValueError, match=match):
        with_subnet_channels('mmcls.ImageClassifier', from_backbone,
                             backbone=backbone_cfg('r18_w05'),
                             head=dict(type='LinearClsHead', num_classes=3, in_channels=1))


def test_backbone_and_head_errors():
    with pytest.raises(ValueError, match='without subnet= is not one network'):  # a supernet
        with_subnet_channels('mmcls.ImageClassifier', {},
                             backbone=backbone_cfg(None))
    with pytest.raises(ValueError, match='WithSubnetChannels'):
        SubnetResLayer()
    cfg = backbone_cfg('r18_w05')
    cfg.pop('type')
    with pytest.raises(ValueError, match='need 3 values'):
        SlimmableResNetTrunk(**dict(cfg, out_indices=(2, ), strides=(1, 2, 2, 2)))
    with pytest.raises(ValueError, match='kept stages'):  # out_indices (0, 1, 2, 3)
        SlimmableResNetTrunk(**cfg)
