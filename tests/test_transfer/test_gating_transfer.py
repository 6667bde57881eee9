"""The dense and gated networks of a dynamic-gating checkpoint downstream: the exports compute
exactly the pretrained branches, and the upstream mmdet / mmseg Runners train and evaluate with
them (the dense one through mmdet's and mmseg's own ResNet, the gated one through GatedResNet
with gated inference)."""
import os
import sys

import pytest
import torch
from mmdet.models.backbones import ResNet as MMDetResNet
from mmengine.registry import MODELS

from dspnet_mm.apis import CheckpointError, export_branch, load_checkpoint_safely, slim
from dspnet_mm.apis.transfer import check_pretrained
from dspnet_mm.models import GatedResNet
from conftest import load_tool
from .conftest import GATED, REPO, VOC_CLASSES
from .test_mmdet_transfer import assert_coco_metrics, coco_config, narrow_fpn
from .test_mmseg_transfer import check_run, seg_config
from .upstream_runs import assert_loaded, run

slim_tool = load_tool('slim.py')

NARROW = dict(stem_channels=16, base_channels=16)  # the fixture's network (GATED)
WIDTHS = [16, 32, 64, 128]


def pretrained_net(gating, **kwargs):
    cfg = dict(GATED, **kwargs)
    cfg.pop('type')
    net = GatedResNet(**cfg)
    state = load_checkpoint_safely(gating['pretrain'])['state_dict']
    net.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                         if k.startswith('backbone.')})
    return net.eval()


def test_dense_export_is_a_plain_resnet_computing_the_dense_branch(gating):
    ckpt = load_checkpoint_safely(gating['dense'])
    assert ckpt['meta']['branch'] == 'dense'
    assert ckpt['meta']['stock_resnet'] == dict(depth=18, in_channels=3, **NARROW)
    assert not [k for k in ckpt['state_dict'] if '.gate.' in k or 'gated_bn' in k]
    stock = MMDetResNet(**ckpt['meta']['stock_resnet'], out_indices=(3, ))
    stock.load_state_dict(ckpt['state_dict'], strict=True)
    stock.eval()  # (mmdet's ResNet.train returns None)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = pretrained_net(gating)(x, gated=False)[0]
        assert torch.allclose(stock(x)[0], expected, atol=1e-5)
        # the plugin's PlainResNet (meta.backbone) reads it as well
        plugin = MODELS.build(ckpt['meta']['backbone']).eval()
        plugin.load_state_dict(ckpt['state_dict'], strict=True)
        assert torch.allclose(plugin(x)[-1], expected, atol=1e-5)


def test_gated_export_runs_gated_inference_by_default(gating):
    ckpt = load_checkpoint_safely(gating['gated'])
    backbone = dict(ckpt['meta']['backbone'], init_cfg=dict(type='Pretrained',
                                                            checkpoint=gating['gated']))
    assert backbone['type'] == 'dspnet_mm.GatedResNet' and backbone['gated'] is True
    net = MODELS.build(backbone)
    net.init_weights()
    net.eval()
    source = pretrained_net(gating)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = net(x)[0]  # what a downstream model calls
        assert torch.allclose(out, source(x, gated=True)[0], atol=1e-5)
        assert not torch.allclose(out, source(x, gated=False)[0], atol=1e-3)
        masks = net.forward_gated(x)[1]
    density = torch.cat([m.mean(1) for m in masks]).mean()
    assert 0 < density < 1, density  # the gates do switch channels off


def test_bad_branch_inputs_name_what_is_allowed(gating, slimmed, tmp_path):
    with pytest.raises(ValueError, match="branch 'sparse' is not one of"):
        export_branch(gating['pretrain'], 'sparse')
    with pytest.raises(CheckpointError, match='not GatedResNet.*dynamic-gating'):
        export_branch(slimmed['pretrain'], 'dense')
    with pytest.raises(CheckpointError, match='--branch dense\\|gated'):
        slim(gating['pretrain'], 'r18_w05')
    # a gated backbone config pointed at the dense export: refused before training starts
    bad = dict(GATED, type='dspnet_mm.GatedResNet', gated=True,
               init_cfg=dict(type='Pretrained', checkpoint=gating['dense']))
    with pytest.raises(CheckpointError, match='dense branch.*--branch gated'):
        check_pretrained(bad)
    with pytest.raises(SystemExit):  # argparse: either --subnet or --branch
        slim_tool.main([gating['pretrain'], '--branch', 'dense', '--subnet', 'r18_w05'])


def test_slim_tool_exports_each_branch(gating, tmp_path, capsys):
    out = tmp_path / 'gated.pth'
    assert slim_tool.main([gating['pretrain'], '--branch', 'gated', '--out', str(out)]) == 0
    exported = load_checkpoint_safely(str(out))['state_dict']
    reference = load_checkpoint_safely(gating['gated'])['state_dict']
    assert exported.keys() == reference.keys()
    assert all(torch.equal(exported[k], reference[k]) for k in reference)
    assert slim_tool.main([gating['pretrain'], '--branch', 'gated', '--out', str(out)]) == 2
    assert 'exists' in capsys.readouterr().err


def gated_backbone(cfg, path):
    cfg.model.backbone.update(NARROW, init_cfg=dict(type='Pretrained', checkpoint=path))


GATED_TENSORS = ('conv1.weight', 'layer2.0.bn1.gated_bn.running_mean',
                 'layer3.1.gate.reduce.weight', 'layer4.0.conv2.weight')


def test_mask_rcnn_fpn_with_gated_network(gating, coco_root, tmp_path):
    cfg = coco_config('mmdetection/coco/mask-rcnn_vicreg-gated-r18_fpn_ms-1x_coco.py',
                      coco_root, str(tmp_path / 'gated'))
    gated_backbone(cfg, gating['gated'])
    narrow_fpn(cfg)
    rec = run(cfg, {k: f'backbone.{k}' for k in GATED_TENSORS})
    assert_loaded(rec, load_checkpoint_safely(gating['gated']), rec.tensors)
    assert isinstance(rec.model_backbone, GatedResNet) and rec.model_backbone.gated
    assert rec.model_backbone.layer1[0].last_mask is not None  # the gated branch ran
    assert_coco_metrics(rec.metrics)


def test_mask_rcnn_fpn_with_dense_network_in_stock_resnet(gating, coco_root, tmp_path):
    cfg = coco_config('mmdetection/coco/mask-rcnn_vicreg-dense-r18-stock_fpn_ms-1x_coco.py',
                      coco_root, str(tmp_path / 'dense'))
    assert cfg.model.backbone.type == 'ResNet' and 'custom_imports' not in cfg
    cfg.model.backbone.update(NARROW, init_cfg=dict(type='Pretrained',
                                                    checkpoint=gating['dense']))
    cfg.model.neck.in_channels = WIDTHS
    narrow_fpn(cfg)
    rec = run(cfg, {k: f'backbone.{k}' for k in ('conv1.weight', 'layer2.0.bn1.running_mean',
                                                   'layer4.1.conv2.weight')})
    assert_loaded(rec, load_checkpoint_safely(gating['dense']), rec.tensors)
    assert type(rec.model_backbone).__module__.startswith('mmdet')
    assert_coco_metrics(rec.metrics)


def test_fcn_d8_with_gated_network(gating, voc_root, tmp_path):
    cfg = seg_config('mmsegmentation/voc12aug/'
                     'fcn_vicreg-gated-r18-d8_4xb4-20k_voc12aug-512x512.py', voc_root,
                     VOC_CLASSES, str(tmp_path / 'gated'))
    gated_backbone(cfg, gating['gated'])
    rec = run(cfg, {k: f'backbone.{k}' for k in GATED_TENSORS})
    check_run(rec, gating['gated'])
    assert rec.model_backbone.gated
    assert rec.model_backbone.layer3[0].conv1.dilation == (2, 2)
    assert rec.model_backbone.layer4[0].conv1.dilation == (4, 4)


def test_fcn_d8_with_dense_network_in_stock_resnet(gating, voc_root, tmp_path):
    """mmseg's own ResNet (plain stem), no plugin."""
    cfg = seg_config('mmsegmentation/voc12aug/'
                     'fcn_vicreg-dense-r18-stock-d8_4xb4-20k_voc12aug-512x512.py', voc_root,
                     VOC_CLASSES, str(tmp_path / 'dense'))
    assert cfg.model.backbone.type == 'ResNet' and 'custom_imports' not in cfg
    cfg.model.backbone.update(NARROW, init_cfg=dict(type='Pretrained',
                                                    checkpoint=gating['dense']))
    cfg.model.decode_head.in_channels = WIDTHS[3]
    cfg.model.auxiliary_head.in_channels = WIDTHS[2]
    rec = run(cfg, {k: f'backbone.{k}' for k in ('conv1.weight', 'layer3.0.bn2.running_var',
                                                   'layer4.1.conv1.weight')})
    check_run(rec, gating['dense'])
    assert type(rec.model_backbone).__module__.startswith('mmseg')


def test_dense_export_keeps_the_reference_cifar_stem(tmp_path):
    """The reference recipe's CIFAR stem is padded by 2 (maps 34/17/9/5): the dense export
    must compute the same function, not a padding-1 network with the same weights."""
    from mmengine.config import Config

    from conftest import randomize_bn
    cfg = dict(type='GatedResNet', depth=18, small_input=True, stem_padding=2,
               stem_channels=16, base_channels=16, dual_bn=True, dual_bn_shortcut=False,
               out_indices=(3, ))
    torch.manual_seed(0)
    net = MODELS.build(dict(cfg, type='dspnet_mm.GatedResNet')).eval()
    randomize_bn(net)
    path = tmp_path / 'gating.pth'
    text = Config(dict(model=dict(type='VICRegDualGating', backbone=cfg))).pretty_text
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in net.state_dict().items()},
                    meta=dict(cfg=text)), path)
    dense = export_branch(str(path), 'dense')
    assert dense['meta']['backbone']['stem_padding'] == 2
    plain = MODELS.build(dense['meta']['backbone'])
    plain.load_state_dict(dense['state_dict'], strict=True)
    plain.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(plain(x)[-1], net(x, gated=False)[-1])
        assert plain(x)[-1].shape[-1] == 5  # 34 -> 17 -> 9 -> 5
