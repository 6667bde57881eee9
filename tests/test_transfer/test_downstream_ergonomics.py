"""Transfer without hand arithmetic: configs printed by ``tools/slim.py --print-config`` build
the upstream models with the slimmed weights; our backbone takes the keyword arguments of the
upstream ``ResNet`` it replaces; the stock-ResNet route can refuse a mismatched checkpoint."""
import pytest
import torch
from mmdet.models.backbones import ResNet as MMDetResNet
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmseg.models.backbones import ResNet as MMSegResNet

from conftest import load_tool
from dspnet_mm.apis import CheckpointError, load_checkpoint_safely
from dspnet_mm.apis.transfer import DOWNSTREAM_TARGETS, downstream_config
from dspnet_mm.models import PlainResNet

slim_tool = load_tool('slim.py')
SCOPES = {'mmdet': 'mmdet', 'mmseg': 'mmseg', 'mmcls': 'mmcls'}


def _build(config_text, tmp_path, target):
    path = tmp_path / f'{target}.py'
    path.write_text(config_text)
    cfg = Config.fromfile(str(path))
    scope = target.split('-')[0]
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


@pytest.mark.parametrize('target', DOWNSTREAM_TARGETS)
def test_printed_config_builds_the_upstream_model_with_the_slimmed_weights(
        slimmed, tmp_path, capsys, target):
    out = tmp_path / 'r10_mixed.pth'
    assert slim_tool.main([slimmed['pretrain'], '--subnet', 'r10_mixed', '--out', str(out),
                           '--print-config', target]) == 0
    printed = capsys.readouterr().out
    text = printed[printed.index(f'# {target} config'):]
    cfg, model = _build(text, tmp_path, target)
    meta = load_checkpoint_safely(str(out))['meta']
    weights = load_checkpoint_safely(str(out))['state_dict']
    c = meta['stage_channels']
    assert c == [8, 16, 64, 96]  # widths (0.5, 0.5, 1.0, 0.75) x (16, 32, 64, 128)
    if target == 'mmdet-c4':  # stages 1-3 on the image, stage 4 on RoIs
        trunk = model.backbone.state_dict()
        assert all(torch.equal(v, weights[k]) for k, v in trunk.items())
        stage4 = model.roi_head.shared_head.layer4.state_dict()
        assert all(torch.equal(v, weights[f'layer4.{k}']) for k, v in stage4.items())
        assert model.rpn_head.rpn_conv.in_channels == c[2]
        assert model.roi_head.bbox_head.in_channels == c[3]
    else:
        backbone = model.backbone.state_dict()
        assert backbone.keys() == weights.keys()
        assert all(torch.equal(v, weights[k]) for k, v in backbone.items())
    if target == 'mmdet-fpn':
        assert [conv.conv.in_channels for conv in model.neck.lateral_convs] == c
        assert model.backbone.frozen_stages == 1 and model.backbone.norm_eval
    elif target == 'mmseg-fcn':
        assert model.decode_head.in_channels == c[3]
        assert model.auxiliary_head.in_channels == c[2]
    elif target == 'mmseg-upernet':
        assert list(model.decode_head.in_channels) == c
    elif target == 'mmcls':
        assert model.head.fc.in_features == c[3]
    # one forward pass at the downstream input layout
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        feats = model.backbone(x)
    assert feats[-1].shape[1] in (c[2], c[3])


def _mmdet_fpn_backbone(tmp_path):
    """The backbone dict of mmdet's own Mask R-CNN base, as a user finds it."""
    path = tmp_path / 'user.py'
    path.write_text("_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'\n")
    return dict(Config.fromfile(str(path)).model.backbone)


def test_swapping_only_the_type_keeps_upstream_settings(tmp_path):
    backbone = _mmdet_fpn_backbone(tmp_path)
    assert backbone['num_stages'] == 4 and backbone['frozen_stages'] == 1
    backbone.update(type='dspnet_mm.PlainResNet', subnet=dict(widths=0.25))
    backbone.pop('init_cfg')
    with DefaultScope.overwrite_default_scope('mmdet'):
        net = MODELS.build(backbone)
    net.train()
    assert net.out_indices == (0, 1, 2, 3) and net.frozen_stages == 1 and net.norm_eval
    assert not any(p.requires_grad for p in net.conv1.parameters())  # frozen stem
    assert not any(p.requires_grad for p in net.layer1.parameters())  # frozen stage 1
    assert all(p.requires_grad for p in net.layer2.parameters())
    assert not net.layer2[0].bn1.training  # norm_eval
    assert len(net(torch.randn(1, 3, 64, 64))) == 4


def test_contract_dilation_matches_mmseg():
    """mmseg's FCN-D8 base passes ``contract_dilation=True`` with dilations (1, 1, 2, 4):
    our network computes what mmseg's own ResNet computes with the same weights."""
    kw = dict(depth=50, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), out_indices=(0, 1, 2, 3),
              contract_dilation=True)
    ours = PlainResNet(subnet=dict(widths=1.0), **kw).eval()
    theirs = MMSegResNet(**kw)
    theirs.eval()  # (mmseg's train() returns None)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    assert ours.layer3[0].conv2.dilation == (1, 1) and ours.layer3[1].conv2.dilation == (2, 2)
    assert ours.layer4[0].conv2.dilation == (2, 2) and ours.layer4[1].conv2.dilation == (4, 4)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x)):
            torch.testing.assert_close(a, b)
    plain = PlainResNet(subnet=dict(widths=1.0), **dict(kw, contract_dilation=False))
    assert plain.layer3[0].conv2.dilation == (2, 2)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(deep_stem=True), ValueError, "deep_stem=True is not supported .*plain 7x7 stem"),
    (dict(avg_down=True), ValueError, 'avg_down=True is not supported'),
    (dict(num_stages=3), ValueError, 'num_stages=3 .*SlimmableResNetTrunk'),
    (dict(dcn=dict(type='DCNv2'), stage_with_dcn=(False, True, True, True)), ValueError,
     'stage_with_dcn=.*deformable'),
    (dict(with_cp=True), ValueError, 'with_cp=True is not supported'),
    (dict(bogus=1), TypeError, "unexpected keyword argument 'bogus'"),
])
def test_upstream_arguments_we_cannot_honour_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        PlainResNet(18, subnet=dict(widths=0.5), **kwargs)


def test_pretrained_argument_becomes_init_cfg(slimmed):
    """mmseg's segmentors pass ``pretrained=`` down to the backbone."""
    net = PlainResNet(18, stem_channels=16, base_channels=16, subnet=dict(widths=0.5),
                      pretrained=slimmed['r18_w05'])
    net.init_weights()
    weights = load_checkpoint_safely(slimmed['r18_w05'])['state_dict']
    assert all(torch.equal(v, weights[k]) for k, v in net.state_dict().items())


def test_strict_pretrained_refuses_a_stock_resnet_of_another_width(slimmed):
    """mmengine's ``Pretrained`` only warns ``size mismatch`` and trains from random weights;
    ``dspnet_mm.StrictPretrained`` stops and names the settings that fit."""
    import dspnet_mm  # noqa: F401  (registers the initializer)
    meta = load_checkpoint_safely(slimmed['r18_w05'])['meta']
    assert meta['stock_resnet'] == dict(depth=18, in_channels=3, stem_channels=8,
                                        base_channels=8)
    init = dict(type='dspnet_mm.StrictPretrained', checkpoint=slimmed['r18_w05'])
    wrong = MMDetResNet(depth=18, init_cfg=init)  # stem/base 64: the stock defaults
    with pytest.raises(CheckpointError, match=r"stem_channels': 8, 'base_channels': 8"):
        wrong.init_weights()
    right = MMDetResNet(depth=18, stem_channels=8, base_channels=8, init_cfg=init)
    right.init_weights()
    weights = load_checkpoint_safely(slimmed['r18_w05'])['state_dict']
    assert all(torch.equal(v, weights[k]) for k, v in right.state_dict().items())
