"""Files written by an older commit (tests/fixtures/legacy, see tools/dev/make_legacy_fixtures.py)
still load and compute the same: checkpoints and slimmed files whose backbone type is the old
``SlimmableResNet(subnet=...)``, now built as ``PlainResNet``."""
import os

import pytest
import torch

from dspnet_mm.apis.backbone import load_backbone
from dspnet_mm.apis.checkpoint import CheckpointError, load_checkpoint_safely
from dspnet_mm.apis.slim import load_supernet, slim
from dspnet_mm.apis.subnet_evaluation import load_baseline
from dspnet_mm.apis.transfer import build_subnet_backbone, check_pretrained
from dspnet_mm.models import GatedResNet, PlainResNet, SlimmableResNet
from dspnet_mm.registry import MODELS

LEGACY = os.path.join(os.path.dirname(__file__), '..', 'fixtures', 'legacy')


def legacy(name):
    return os.path.join(LEGACY, name)


@pytest.fixture(scope='module')
def expected():
    return load_checkpoint_safely(legacy('expected.pth'))


def run(net, x):
    with torch.no_grad():
        return net.eval()(x)[-1]  # the last stage


def test_fixtures_come_from_the_old_type(expected):
    meta = expected['slim_meta']
    assert meta['backbone']['type'] == 'dspnet_mm.SlimmableResNet'
    assert meta['backbone']['subnet'] == dict(widths=[0.5] * 4, depths=[1, 1, 1, 1])


def test_old_slimmed_file_loads_as_plain_resnet(expected):
    net, cfg, _ = load_backbone(legacy('slim_r10_w05.pth'))
    assert type(net) is PlainResNet and cfg['type'] == 'dspnet_mm.SlimmableResNet'
    torch.testing.assert_close(run(net, expected['input']), expected['supernet_r10_w05'],
                               rtol=0, atol=0)
    # the downstream path: meta.backbone (with its init_cfg) builds the same network
    downstream = build_subnet_backbone(expected['slim_meta']['backbone'], device='cpu')
    assert type(downstream) is PlainResNet and downstream.stage_channels == net.stage_channels


def test_old_one_by_one_checkpoint_is_a_baseline(expected):
    net, summary = load_baseline(legacy('byol_r10_w05.pth'))
    assert type(net) is PlainResNet
    assert summary['spec'] == dict(widths=[0.5] * 4, depths=[1, 1, 1, 1])
    assert summary['flops'] > 0 and summary['params'] > 0
    torch.testing.assert_close(run(net, expected['input']), expected['byol_r10_w05'],
                               rtol=0, atol=0)
    with pytest.raises(CheckpointError, match='not a supernet: it is already slim'):
        load_supernet(legacy('byol_r10_w05.pth'))


def test_old_supernet_slims_as_before(expected, tmp_path):
    supernet, _ = load_supernet(legacy('supernet.pth'))
    assert type(supernet) is SlimmableResNet
    torch.testing.assert_close(run(supernet.export('r10_w05'), expected['input']),
                               expected['supernet_r10_w05'], rtol=0, atol=0)
    new = slim(legacy('supernet.pth'), 'r10_w05', out=str(tmp_path / 'new.pth'))
    old = load_checkpoint_safely(legacy('slim_r10_w05.pth'))
    assert new['meta']['backbone']['type'] == 'dspnet_mm.PlainResNet'
    assert new['state_dict'].keys() == old['state_dict'].keys()
    for k, v in old['state_dict'].items():
        assert torch.equal(new['state_dict'][k], v), k
    same = ('spec', 'stage_channels', 'flops', 'params', 'stock_resnet', 'input_shape')
    assert {k: new['meta'][k] for k in same} == {k: old['meta'][k] for k in same}


def test_old_gating_checkpoint_loads_with_renamed_dual_bn(expected):
    """Gated BNs were stored as ``bn1.subnet_bns.gated.*``; today they are ``bn1.gated_bn.*``."""
    old_keys = load_checkpoint_safely(legacy('gating.pth'))['state_dict']
    assert any('.subnet_bns.gated.' in k for k in old_keys)
    net, _, _ = load_backbone(legacy('gating.pth'))
    assert type(net) is GatedResNet
    assert not any('subnet_bns' in k for k in net.state_dict())
    assert any('.gated_bn.' in k for k in net.state_dict())
    x = expected['input']
    with torch.no_grad():
        torch.testing.assert_close(net(x, gated=False)[-1], expected['gating_dense'],
                                   rtol=0, atol=0)
        torch.testing.assert_close(net(x, gated=True)[-1], expected['gating_gated'],
                                   rtol=0, atol=0)
    # plain load_state_dict (what mmengine's load_checkpoint and resume call) renames too
    fresh = GatedResNet(depth=18, in_channels=1, stem_channels=8, base_channels=8,
                        small_input=True)
    fresh.load_state_dict({k[len('backbone.'):]: v for k, v in old_keys.items()}, strict=True)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in fresh.state_dict().items())


def test_old_gated_branch_export_still_initialises_a_downstream_backbone(expected):
    meta = expected['gated_branch_meta']
    cfg = dict(meta['backbone'], init_cfg=dict(type='Pretrained',
                                               checkpoint=legacy('gated_branch.pth')))
    check_pretrained(cfg)  # compares keys: the old names count as the new ones
    net = MODELS.build(cfg)
    net.init_weights()  # mmengine's PretrainedInit: loads non-strictly, so compare outputs
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(expected['input'])[-1], expected['gating_gated'],
                                   rtol=0, atol=0)
    dense, _ = net.export('dense')
    assert not any('gate' in k for k in dense.state_dict())
