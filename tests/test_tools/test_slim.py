import os
import sys

import pytest
import torch
from mmcls.models import ResNet as MMClsResNet
from mmengine.config import Config
from mmengine.registry import MODELS

from conftest import REPO, load_tool, randomize_bn
from dspnet_mm.apis import CheckpointError, load_checkpoint_safely, slim
from dspnet_mm.models import SlimmableResNet

slim_tool = load_tool('slim.py')

BACKBONE = dict(type='SlimmableResNet', depth=18, small_input=True,
                subnets=dict(r18_w1=dict(widths=1.0), r18_w05=dict(widths=0.5),
                             r10_w05=dict(widths=0.5, depths=(1, 1, 1, 1))))


def _config_text(backbone=BACKBONE):
    return Config(dict(model=dict(type='DSPNet', backbone=backbone))).pretty_text


@pytest.fixture
def pretrained(tmp_path):
    """An algorithm checkpoint as mmengine writes it: prefixed keys + meta.cfg."""
    cfg = dict(BACKBONE)
    cfg.pop('type')
    net = SlimmableResNet(**cfg)
    randomize_bn(net)
    sd = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    sd['target_net.module.0.conv1.weight'] = torch.zeros(1)
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict=sd, meta=dict(cfg=_config_text(), iter=10)), path)
    return net.eval(), str(path)


def test_slim_cli_list_and_extract(pretrained, tmp_path, capsys):
    net, path = pretrained
    assert slim_tool.main([path, '--list']) == 0
    listing = capsys.readouterr().out
    assert 'r18_w05' in listing and 'r10_w05' in listing
    out = str(tmp_path / 'r18_w05.pth')
    assert slim_tool.main([path, '--subnet', 'r18_w05', '--out', out]) == 0
    printed = capsys.readouterr().out
    assert 'mmdet FPN neck in_channels=[32, 64, 128, 256]' in printed  # 64 * 0.5 * 2^i
    assert 'decode_head in_channels=256, auxiliary_head in_channels=128' in printed
    ckpt = load_checkpoint_safely(out)
    meta = ckpt['meta']
    assert meta['stage_channels'] == [32, 64, 128, 256]
    assert meta['spec'] == dict(widths=[0.5] * 4, depths=[2, 2, 2, 2])
    assert meta['flops'] > 0 and meta['params'] == sum(
        v.numel() for k, v in ckpt['state_dict'].items() if 'running' not in k
        and 'num_batches' not in k)
    # meta.backbone works downstream as is: all stages out, plain BN, loads the file itself
    assert meta['backbone']['out_indices'] == (0, 1, 2, 3)
    assert meta['backbone']['norm_cfg'] == dict(type='BN', requires_grad=True)
    assert meta['backbone']['init_cfg'] == dict(type='Pretrained',
                                                checkpoint=os.path.abspath(out))
    fixed = MODELS.build(meta['backbone'])
    fixed.init_weights()
    fixed.eval()
    assert all(torch.equal(v, ckpt['state_dict'][k]) for k, v in fixed.state_dict().items())
    x = torch.randn(2, 3, 32, 32)
    with net.set_subnet('r18_w05'):
        assert (net(x)[-1] - fixed(x)[-1]).abs().max() < 1e-5
    # a DN with private BN: its own statistics were taken, not the full network's
    assert torch.equal(ckpt['state_dict']['bn1.running_mean'],
                       net.bn1.subnet_bns['r18_w05'].running_mean)


def test_slimmed_full_width_dn_loads_into_stock_resnet(tmp_path):
    net = SlimmableResNet(18, subnets=dict(w05=dict(widths=0.5)))
    path = tmp_path / 'backbone_only.pth'
    torch.save(dict(state_dict=net.state_dict()), path)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f"model = dict(backbone=dict(type='SlimmableResNet', depth=18, "
                   f"subnets=dict(w05=dict(widths=0.5))))\n")
    result = slim(str(path), 'w05', config=str(cfg))
    stock = MMClsResNet(**result['meta']['stock_resnet'])
    stock.load_state_dict(result['state_dict'], strict=True)
    assert result['meta']['stock_resnet'] == dict(depth=18, in_channels=3, stem_channels=32,
                                                  base_channels=32)


def test_slim_errors(pretrained, tmp_path, capsys):
    net, path = pretrained
    out = tmp_path / 'exists.pth'
    out.write_bytes(b'keep me')
    assert slim_tool.main([path, '--subnet', 'r18_w05', '--out', str(out)]) == 2
    assert 'exists; pass --force' in capsys.readouterr().err
    assert out.read_bytes() == b'keep me'
    assert slim_tool.main([path, '--subnet', 'r18_w05', '--out', str(out), '--force']) == 0

    assert slim_tool.main([path, '--subnet', 'nope', '--out', str(tmp_path / 'x.pth')]) == 2
    assert "unknown subnet 'nope'; known subnets: r10_w05, r18_w05, r18_w1" in \
        capsys.readouterr().err

    backbone_only = tmp_path / 'bb.pth'
    torch.save(dict(state_dict=net.state_dict()), backbone_only)
    assert slim_tool.main([str(backbone_only), '--subnet', 'r18_w05']) == 2
    assert 'carries no backbone metadata' in capsys.readouterr().err

    other = tmp_path / 'other.pth'
    r34 = dict(BACKBONE, depth=34)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in net.state_dict().items()},
                    meta=dict(cfg=_config_text(r34))), other)
    assert slim_tool.main([str(other), '--subnet', 'r18_w05']) == 2
    assert 'checkpoint of another architecture' in capsys.readouterr().err

    byol = tmp_path / 'byol.pth'
    torch.save(dict(state_dict={}, meta=dict(cfg=_config_text(dict(type='ResNet', depth=50)))),
               byol)
    assert slim_tool.main([str(byol), '--subnet', 'r18_w05']) == 2
    assert "backbone type 'ResNet', not SlimmableResNet" in capsys.readouterr().err

    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'\x00not a checkpoint')
    assert slim_tool.main([str(junk), '--list']) == 2
    assert 'not a readable PyTorch checkpoint' in capsys.readouterr().err

    empty = tmp_path / 'empty.pth'  # crashed in the error formatter once (IndexError)
    empty.write_bytes(b'')
    assert slim_tool.main([str(empty), '--subnet', 'r18_w05']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'is empty (0 bytes)' in err and len(
        err.strip().splitlines()) == 1

    assert slim_tool.main([path, '--subnet', 'r18_w05', '--input-size', '0']) == 2
    assert '--input-size 0 must be > 0' in capsys.readouterr().err
    assert slim_tool.main([str(tmp_path / 'missing.pth'), '--list']) == 2
    assert "checkpoint '" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match='is empty'):  # --debug: the traceback
        slim_tool.main([str(empty), '--subnet', 'r18_w05', '--debug'])
