import copy

import pytest
import torch
from mmcls.models import ResNet as MMClsResNet
from mmdet.models import ResNet as MMDetResNet
from mmengine.analysis import get_model_complexity_info

from conftest import randomize_bn
from dspnet_mm.models import (PlainResNet, SlimmableResNet, SubnetSpec, make_divisible,
                              recalibrate_bn)
from dspnet_mm.registry import MODELS

R18_SUBNETS = dict(
    r18_w1=dict(widths=1.0, depths=(2, 2, 2, 2)),
    r18_w05=dict(widths=0.5, depths=(2, 2, 2, 2)),
    r10_mixed=dict(widths=(1.0, 0.5, 0.75, 0.25), depths=(1, 2, 1, 2)),
)


def r18(**kw):
    net = SlimmableResNet(18, subnets=R18_SUBNETS, small_input=True, stem_channels=32,
                          base_channels=32, out_indices=(0, 1, 2, 3), **kw)
    randomize_bn(net)
    return net.eval()


def plain_of(supernet, subnet):
    cfg = supernet.plain_config(subnet)
    assert cfg.pop('type') == 'dspnet_mm.PlainResNet'
    plain = PlainResNet(**cfg).eval()
    plain.load_state_dict(supernet.subnet_state_dict(subnet), strict=True)
    return plain


def test_make_divisible():
    assert make_divisible(32) == 32
    assert make_divisible(19.2) == 24  # never drops more than 10%
    assert make_divisible(3) == 8


@pytest.mark.parametrize('subnet', ['r18_w1', 'r18_w05', 'r10_mixed',
                                    dict(widths=(0.25, 0.75, 0.5, 1.0), depths=(2, 1, 2, 1))])
def test_subnet_in_supernet_equals_slimmed_network(subnet):
    net = r18()
    x = torch.randn(2, 3, 32, 32)
    with net.set_subnet(subnet):
        outs = net(x)
        expected_channels = net.out_channels
    plain_outs = plain_of(net, subnet)(x)
    assert [o.shape[1] for o in outs] == list(expected_channels)
    for a, b in zip(outs, plain_outs):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() < 1e-5


def test_r50_reduced_depth_equals_slimmed():
    subnets = dict(r26_w025=dict(widths=0.25, depths=(2, 2, 2, 2)))
    net = SlimmableResNet(50, subnets=subnets, out_indices=(3, ))
    randomize_bn(net)
    net.eval()
    x = torch.randn(1, 3, 64, 64)
    with net.set_subnet('r26_w025'):
        out = net(x)[0]
    assert out.shape == (1, 512, 2, 2)
    assert (out - plain_of(net, 'r26_w025')(x)[0]).abs().max().item() < 1e-5


@pytest.mark.parametrize('width', [1.0, 0.5])
def test_slimmed_r50_loads_strict_into_stock_mmdet_resnet(width):
    name = f'w{int(width * 100)}'
    net = SlimmableResNet(50, subnets={name: dict(widths=width)}, out_indices=(0, 1, 2, 3))
    randomize_bn(net)
    net.eval()
    sd = net.subnet_state_dict(name)
    stock = MMDetResNet(depth=50, stem_channels=int(64 * width),
                        base_channels=int(64 * width), out_indices=(0, 1, 2, 3))
    stock.eval()
    stock.load_state_dict(sd, strict=True)
    x = torch.randn(1, 3, 64, 64)
    with net.set_subnet(name):
        ours = net(x)
    for a, b in zip(ours, stock(x)):
        assert (a - b).abs().max().item() < 1e-5


def test_supernet_state_dict_loads_into_stock_resnet():
    net = SlimmableResNet(50, subnets=dict(w05=dict(widths=0.5), d=dict(depths=(1, 1, 1, 1))))
    result = MMClsResNet(depth=50).load_state_dict(net.state_dict(), strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys and all('.subnet_bns.' in k for k in result.unexpected_keys)
    # the full-width, full-depth DN has no private BN: it *is* the standard-key BN
    full = SlimmableResNet(18, subnets=dict(full=dict(widths=1.0), w05=dict(widths=0.5)))
    assert all('.subnet_bns.w05.' in k for k in full.state_dict() if 'subnet_bns' in k)


@pytest.mark.parametrize('depth,width', [(18, 1.0), (18, 0.5), (50, 0.25), (50, 0.75)])
def test_flops_match_stock_network(depth, width):
    spec = dict(widths=width)
    ours = PlainResNet(depth, subnet=spec)
    stock = MMClsResNet(depth=depth, stem_channels=make_divisible(64 * width),
                        base_channels=make_divisible(64 * width))
    ours.eval()
    stock.eval()  # mmcls' ResNet.train() returns None: no chaining
    f = [get_model_complexity_info(m, (3, 64, 64), show_table=False, show_arch=False)
         for m in (ours, stock)]
    assert f[0]['flops'] == f[1]['flops'] and f[0]['params'] == f[1]['params']
    assert f[0]['flops'] > 0


def test_context_manager_restores_and_switching_is_per_instance():
    net = r18()
    twin = copy.deepcopy(net)
    x = torch.randn(1, 3, 32, 32)
    full = net(x)[-1]
    with net.set_subnet('r18_w05'):
        assert net(x)[-1].shape[1] == 128
        assert twin(x)[-1].shape[1] == 256  # the deep copy is not switched
    assert torch.equal(net(x)[-1], full)
    net.set_subnet('r10_mixed')
    assert net.active_spec == SubnetSpec((1.0, 0.5, 0.75, 0.25), (1, 2, 1, 2))


def test_private_bn_statistics_change_only_when_their_subnet_runs():
    net = r18().train()
    bn = net.layer1[0].bn1
    snap = {k: v.clone() for k, v in net.state_dict().items()}
    with net.set_subnet('r18_w05'):
        net(torch.randn(4, 3, 32, 32))
    sd = net.state_dict()
    changed = {k for k in sd if k.endswith('running_mean') and not torch.equal(sd[k], snap[k])}
    assert 'layer1.0.bn1.subnet_bns.r18_w05.running_mean' in changed
    assert all('subnet_bns.r18_w05.' in k for k in changed)
    assert bn.subnet_bns['r18_w05'].num_features == 16


def test_shared_bn_and_recalibration_for_arbitrary_spec():
    net = r18()
    spec = dict(widths=0.75, depths=(1, 1, 1, 1))
    calibrated = copy.deepcopy(net)
    batches = [torch.randn(8, 3, 32, 32) * 2 + 1 for _ in range(3)]
    assert recalibrate_bn(calibrated, spec, batches, num_batches=3) == 3
    bn = calibrated.bn1
    c = net.channels_of(SubnetSpec.create(spec, net.max_depths)).stem
    # stem BN statistics = batch statistics of the stem conv outputs, averaged over 3 batches
    with calibrated.set_subnet(spec), torch.no_grad():
        means = [calibrated.conv1(b).mean((0, 2, 3)) for b in batches]
    assert torch.allclose(bn.running_mean[:c], torch.stack(means).mean(0), atol=1e-4)
    assert not torch.allclose(net.bn1.running_mean[:c], bn.running_mean[:c])


@pytest.mark.parametrize('subnet,match', [
    (dict(widths=0.0), r'width 0.0 .* outside \(0, 1\]'),
    (dict(widths=1.5), r'width 1.5 .* outside \(0, 1\]'),
    (dict(widths=(1.0, 0.5)), r'widths \(1.0, 0.5\) must be one float or 4'),
    (dict(depths=(0, 2, 2, 2)), r'depth 0 of stage 1 is outside 1..2'),
    (dict(depths=(2, 2, 3, 2)), r'depth 3 of stage 3 is outside 1..2'),
    (dict(depths=(2, 2, 2)), r'depths \(2, 2, 2\) must have 4 ints'),
    (dict(width=0.5), r"unknown keys \['width'\]"),
    ('r99', r"unknown subnet 'r99'; known subnets: r18_w1, r18_w05, r10_mixed"),
])
def test_bad_specs_raise_one_clear_error(subnet, match):
    net = r18()
    with pytest.raises(ValueError, match=match):
        net.set_subnet(subnet)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r'depth 20 is not supported; choose one of'):
        SlimmableResNet(20)
    with pytest.raises(ValueError, match=r"subnet name 'half' clashes with an nn.Module"):
        SlimmableResNet(18, subnets=dict(half=dict(widths=0.5)))
    with pytest.raises(ValueError, match=r"subnet 'bad': width 2"):
        SlimmableResNet(18, subnets=dict(bad=dict(widths=2)))
    with pytest.raises(ValueError, match=r'expects images of shape \(N, 3, H, W\)'):
        SlimmableResNet(18)(torch.randn(1, 1, 32, 32))


def test_plain_resnet_builds_plain_layers():
    net = PlainResNet(18, subnets=R18_SUBNETS, subnet='r10_mixed')
    assert type(net.conv1) is torch.nn.Conv2d
    assert type(net.bn1) is torch.nn.BatchNorm2d
    assert len(net.layer1) == 1 and len(net.layer2) == 2
    assert net.out_channels == (128, )
    assert not hasattr(net, 'set_subnet')
    whole = PlainResNet(18)  # no subnet: the whole network
    assert [len(getattr(whole, f'layer{i}')) for i in range(1, 5)] == [2, 2, 2, 2]
    assert whole.stage_channels == (64, 128, 256, 512)
    with pytest.raises(ValueError, match=r"unknown subnet 'r9'; known subnets: r18_w1"):
        PlainResNet(18, subnets=R18_SUBNETS, subnet='r9')


def test_old_type_name_builds_the_plain_network():
    """``SlimmableResNet(subnet=...)``, as configs and slimmed files before PlainResNet say."""
    old = MODELS.build(dict(type='dspnet_mm.SlimmableResNet', depth=18, subnets=R18_SUBNETS,
                            subnet='r10_mixed', small_input=True))
    new = PlainResNet(18, subnets=R18_SUBNETS, subnet='r10_mixed', small_input=True)
    assert type(old) is PlainResNet and old.spec == new.spec
    assert {k: v.shape for k, v in old.state_dict().items()} == {
        k: v.shape for k, v in new.state_dict().items()}
    supernet = SlimmableResNet(18, subnets=R18_SUBNETS)  # without subnet: the supernet
    assert type(supernet) is SlimmableResNet and type(copy.deepcopy(supernet)) is SlimmableResNet
    assert type(copy.deepcopy(old)) is PlainResNet


def test_inference_slice_cache_follows_weight_updates():
    net = r18()
    x = torch.randn(1, 3, 32, 32)
    net.set_subnet('r18_w05')
    with torch.no_grad():
        first = net(x)[-1]
        assert torch.equal(net(x)[-1], first)  # cached slices give the same result
        net.layer1[0].conv1.weight.mul_(2)      # an in-place update (optimizer step)
        changed = net(x)[-1]
    assert not torch.equal(changed, first)
    plain = plain_of(net, 'r18_w05')
    with torch.no_grad():
        assert (changed - plain(x)[-1]).abs().max() < 1e-5


def test_prefix_is_the_leading_slice_with_one_backward_per_weight():
    from dspnet_mm.compat import count_dispatched_ops
    from dspnet_mm.models.slimmable.slimmable_ops import prefix
    w = torch.randn(8, 6, 3, 3, requires_grad=True)
    for sizes in [(8, 6), (5, 6), (8, 2), (5, 2), (3, )]:
        p = prefix(w, *sizes)
        ref = w[tuple(slice(0, n) for n in sizes)]
        assert torch.equal(p, ref)
        g = torch.randn_like(ref)
        got = torch.autograd.grad(p, w, g)[0]
        assert torch.equal(got, torch.autograd.grad(ref, w, g)[0])
    # a weight cut in both channel dimensions: one full-size gradient (slice-of-slice
    # built two, the first through an intermediate (5, 6, 3, 3) tensor)
    ops = count_dispatched_ops(lambda: torch.autograd.grad(prefix(w, 5, 2).sum(), w), True)[1]
    assert ops.get('slice_backward', 0) + ops.get('new_zeros', 0) == 1, ops
    with pytest.raises(ValueError, match=r'prefix of size \(9, 6\)'):
        prefix(w, 9, 6)


def test_training_gradients_equal_the_slimmed_networks():
    net = r18()
    plain = plain_of(net, 'r10_mixed')
    net.set_subnet('r10_mixed')
    net.train(), plain.train()
    x = torch.randn(4, 3, 32, 32)
    sum(o.sum() for o in net(x)).backward()
    sum(o.sum() for o in plain(x)).backward()
    full = dict(net.named_parameters())
    for name, p in plain.named_parameters():
        module, _, leaf = name.rpartition('.')
        private = f'{module}.subnet_bns.r10_mixed.{leaf}'
        g = full[private if private in full else name].grad
        region = tuple(slice(0, n) for n in p.shape)
        assert torch.allclose(g[region], p.grad, atol=1e-4, rtol=1e-4), name
        rest = g.clone()
        rest[region] = 0
        assert not rest.any(), name  # nothing outside the DN's slice


def test_switching_is_cheap_and_stays_per_instance_after_a_copy():
    from dspnet_mm.apis.benchmark import python_calls
    net = r18()
    x = torch.randn(1, 3, 32, 32)
    with net.set_subnet('r18_w05'):  # the switch of this DN is now known to net
        half = net(x)[-1]
    twin = copy.deepcopy(net)
    with twin.set_subnet('r18_w05'):
        assert torch.equal(twin(x)[-1], half)
        assert net(x)[-1].shape[1] == 256  # switching the copy leaves the original full
    with net.set_subnet('r10_mixed'):
        assert twin(x)[-1].shape[1] == 256
    # a switch and its restore: a few dozen Python calls, not a walk over every module
    # (about 3700 for this ResNet-18 before the switch was planned once per DN)

    def switch():
        with net.set_subnet('r18_w05'):
            pass
    assert python_calls(switch) < 200
