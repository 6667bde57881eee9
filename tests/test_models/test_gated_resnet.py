"""GatedResNet: dual BN, key names of a stock ResNet, masks, sparse inference."""
import time

import pytest
import torch
from mmcls.models import ResNet as MMClsResNet
from mmcls.models import ResNet_CIFAR

from conftest import randomize_bn
from dspnet_mm.apis.benchmark import launches
from dspnet_mm.models import GatedResNet, SlimmableResNet
from dspnet_mm.models.backbones import gated_resnet
from dspnet_mm.models.backbones.gated_resnet import GatedBasicBlock, GatedBottleneck
from dspnet_mm.models.gating import DualBatchNorm2d
from dspnet_mm.models.utils import ResNetSkeleton


def small(depth=18, **kwargs):
    kwargs.setdefault('stem_channels', 8)
    kwargs.setdefault('base_channels', 8)
    kwargs.setdefault('small_input', True)
    return GatedResNet(depth, **kwargs)


def test_shares_the_skeleton_with_slimmable_resnet():
    net = small()
    assert isinstance(net, ResNetSkeleton)
    slim_keys = {k for k in SlimmableResNet(18, stem_channels=8, base_channels=8,
                                            small_input=True).state_dict()}
    gated_keys = set(net.state_dict())
    extra = gated_keys - slim_keys
    assert slim_keys <= gated_keys
    assert extra and all('.gate.' in k or '.gated_bn.' in k for k in extra)
    assert [type(b) for b in net.gated_blocks] == [GatedBasicBlock] * 8
    assert [type(b) for b in small(50).gated_blocks] == [GatedBottleneck] * 16


@pytest.mark.parametrize('depth,small_input', [(18, True), (50, False)])
def test_dense_branch_loads_into_stock_mmcls_resnet(depth, small_input):
    net = small(depth, small_input=small_input, in_channels=1)
    randomize_bn(net)
    net.eval()
    stock_cls = ResNet_CIFAR if small_input else MMClsResNet
    stock = stock_cls(depth=depth, in_channels=1, stem_channels=8, base_channels=8,
                      out_indices=(3, ))
    stock.eval()
    result = stock.load_state_dict(net.state_dict(), strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys and all(
        '.gate.' in k or '.gated_bn.' in k for k in result.unexpected_keys)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x)[0], stock(x)[0], atol=1e-5)


def test_dual_bn_statistics_are_separate():
    net = small()
    net.train()
    bn = net.layer2[0].bn1
    assert isinstance(bn, DualBatchNorm2d) and isinstance(bn.gated_bn, torch.nn.BatchNorm2d)
    dense0, gated0 = bn.running_mean.clone(), bn.gated_bn.running_mean.clone()
    net(torch.randn(4, 3, 16, 16), gated=False)
    assert not torch.equal(bn.running_mean, dense0)
    assert torch.equal(bn.gated_bn.running_mean, gated0)
    dense1 = bn.running_mean.clone()
    net(torch.randn(4, 3, 16, 16), gated=True)
    assert torch.equal(bn.running_mean, dense1)
    assert not torch.equal(bn.gated_bn.running_mean, gated0)
    assert bn.gated_bn.num_batches_tracked == 1 and bn.num_batches_tracked == 1
    # the stem is shared: plain BN; single-stream nets have no gated BN at all
    assert type(net.bn1) is torch.nn.BatchNorm2d
    assert not any('gated_bn' in k for k in small(dual_bn=False).state_dict())


def test_gated_branch_masks_and_gradients():
    net = small()
    net.train()
    x = torch.randn(4, 3, 16, 16)
    feats, masks = net.forward_gated(x)
    assert feats[0].shape == (4, 64, 2, 2)
    assert [m.shape for m in masks] == [(4, c) for c in (8, 8, 16, 16, 32, 32, 64, 64)]
    assert all(set(m.unique().tolist()) <= {0., 1.} for m in masks)
    # the straight-through masks carry gradient to the gates
    sum(m.sum() for m in masks).backward()
    assert net.layer3[1].gate.expand.weight.grad.abs().sum() > 0
    # dense branch: no masks, no gate called
    net(x, gated=False)
    assert all(b.last_mask is None for b in net.gated_blocks)


def test_masked_channels_do_not_matter():
    """The gated output equals the dense computation with the masked conv1 filters zeroed."""
    net = small(dual_bn=False)
    randomize_bn(net)
    net.eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        gated, masks = net.forward_gated(x)
        for blk, m in zip(net.gated_blocks, masks):  # silence the off channels for good
            off = m[0] == 0
            blk.bn1.weight[off] = 0
            blk.bn1.bias[off] = 0
        dense = net(x, gated=False)
    assert torch.allclose(gated[0], dense[0], atol=1e-5)


@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('batch', ['one', 'groups', 'diverse'])
def test_sparse_inference_equals_masked_dense(depth, batch, monkeypatch):
    net = small(depth, base_channels=16, stem_channels=16)
    randomize_bn(net)
    net.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(dict(one=1, groups=2, diverse=5)[batch], 3, 20, 20, generator=g)
    if batch == 'groups':  # 2 distinct images x 4: two groups of 4 images sharing a mask
        x = x.repeat_interleave(4, dim=0)
    sparse_calls = []
    original = GatedBasicBlock._active_conv2 if depth == 18 else GatedBottleneck._active_conv2

    def spy(self, xs, idx):
        sparse_calls.append(xs.size(0))
        return original(self, xs, idx)

    monkeypatch.setattr(GatedBasicBlock if depth == 18 else GatedBottleneck, '_active_conv2',
                        spy)
    with torch.no_grad():
        net.set_sparse_inference(False)
        masked, masks_m = net.forward_gated(x)
        net.set_sparse_inference(True)
        sparse, masks_s = net.forward_gated(x)
    assert all(torch.equal(a, b) for a, b in zip(masks_m, masks_s))
    density = torch.cat([m.flatten() for m in masks_s]).mean()
    assert 0.1 < density < 0.9  # a real mix of on and off channels
    assert (masked[0] - sparse[0]).abs().max() < 1e-4
    # one sparse computation per block on the whole batch (the union of its masks), unless
    # that union keeps more than SPARSE_MAX_UNION of the channels (then dense x mask runs)
    expected = [len(m) for m in masks_s if m.amax(0).mean() <= gated_resnet.SPARSE_MAX_UNION]
    assert sparse_calls == expected
    assert sparse_calls  # the sparse path ran somewhere
    if batch != 'one':  # images dropping channels of the union: zeroed, as checked above
        assert any((m != m.amax(0)).any() for m in masks_s)


def test_sparse_inference_device_rule(monkeypatch):
    """The GPU rule, tried on the CPU: blocks with less dense work than SPARSE_MIN_MACS run
    dense x mask (no host synchronisation); same output."""
    net = small(18, base_channels=16, stem_channels=16)
    randomize_bn(net)
    net.eval()
    x = torch.randn(2, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    macs = [None] * len(net.gated_blocks)  # every block's dense conv1 + conv2 work, by hand
    sizes = []  # the block inputs, recorded with hooks
    hooks = [blk.register_forward_pre_hook(lambda m, a: sizes.append(a[0].shape))
             for blk in net.gated_blocks]
    with torch.no_grad():
        net.set_sparse_inference(False)
        masked, masks = net.forward_gated(x)
    for h in hooks:
        h.remove()
    for i, (blk, (n, c, h, w)) in enumerate(zip(net.gated_blocks, sizes)):
        s = blk.conv1.stride[0]
        mid, out = blk.conv1.out_channels, blk.conv2.out_channels
        macs[i] = n * ((h - 1) // s + 1) * ((w - 1) // s + 1) * 9 * (c * mid + mid * out)
        assert blk.dense_macs(torch.empty(n, c, h, w)) == macs[i]
    need = sorted(macs)[len(macs) // 2]  # half the blocks have that much work
    monkeypatch.setitem(gated_resnet.SPARSE_MIN_MACS, 'cpu', need)
    ran = []
    original = GatedBasicBlock._active_conv1
    monkeypatch.setattr(GatedBasicBlock, '_active_conv1',
                        lambda self, xs, idx: ran.append(self) or original(self, xs, idx))
    with torch.no_grad():
        net.set_sparse_inference(True)
        sparse, _ = net.forward_gated(x)
    assert (masked[0] - sparse[0]).abs().max() < 1e-4
    assert ran == [blk for blk, m, mk in zip(net.gated_blocks, macs, masks)
                   if m >= need and mk.amax(0).mean() <= gated_resnet.SPARSE_MAX_UNION]
    assert 0 < len(ran) < len(net.gated_blocks)


def test_sparse_inference_with_all_channels_off_or_on():
    net = small()
    randomize_bn(net)
    net.eval()
    x = torch.randn(3, 3, 16, 16)
    results = {}
    for sign in (-1., 1.):
        for blk in net.gated_blocks:  # logits of one sign: every channel off / on
            blk.gate.bn.bias.data.fill_(5.)
            blk.gate.expand.weight.data = sign * blk.gate.expand.weight.data.abs()
        with torch.no_grad():
            net.set_sparse_inference(False)
            masked, masks = net.forward_gated(x)
            net.set_sparse_inference(True)
            sparse, _ = net.forward_gated(x)
        assert all(m.mean() == (sign > 0) for m in masks)
        assert (masked[0] - sparse[0]).abs().max() < 1e-4
        results[sign] = sparse[0]
    with torch.no_grad():  # all on = the dense computation with the gated BNs
        for bn in net._dual_bns:
            gated = bn.gated_bn
            for name in ('weight', 'bias', 'running_mean', 'running_var'):
                getattr(bn, name).data.copy_(getattr(gated, name))
        assert torch.allclose(results[1.], net(x)[0], atol=1e-4)


def test_sparse_inference_is_faster_at_batch_1():
    """Batch 1, a quarter of the channels on: computing only those beats dense x mask."""
    torch.manual_seed(0)
    net = GatedResNet(18, base_channels=64, small_input=True).eval()
    for blk in net.gated_blocks:  # every image keeps the same 25% of the channels
        w = blk.gate.expand.weight.data.abs()
        keep = torch.zeros(w.size(0), dtype=torch.bool)
        keep[torch.randperm(w.size(0))[:w.size(0) // 4]] = True
        w[~keep] *= -1
        blk.gate.expand.weight.data = w
        blk.gate.bn.bias.data.fill_(5.)
    x = torch.randn(1, 3, 32, 32)

    def best_time(sparse):
        net.set_sparse_inference(sparse)
        with torch.no_grad():
            _, masks = net.forward_gated(x)
            assert all(m.mean() == 0.25 for m in masks)
            times = []
            for _ in range(10):
                t = time.perf_counter()
                net.forward_gated(x)
                times.append(time.perf_counter() - t)
        return min(times)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on a busy 2-core machine time OpenMP waits instead
    try:
        masked, sparse = best_time(False), best_time(True)
    finally:
        torch.set_num_threads(threads)
    assert sparse < 0.8 * masked, (sparse, masked)  # about 1.9x measured


def capped_setup(depth=18, batch=6):
    net = small(depth, base_channels=16, stem_channels=16)
    randomize_bn(net)
    net.eval()
    x = torch.randn(batch, 3, 20, 20, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        net.set_sparse_inference(False)
        masked, masks = net.forward_gated(x)
    net.set_sparse_inference(True)
    return net, x, masked, masks


@pytest.mark.parametrize('depth', [18, 50])
def test_capped_inference_equals_masked_dense_and_never_waits(depth, monkeypatch):
    """Static capacities (the CUDA-graph path): same output as dense x mask, no host
    synchronisation inside, one (the overflow check) in forward."""
    net, x, masked, masks = capped_setup(depth)
    unions = [int(m.amax(0).sum()) for m in masks]
    caps = net.calibrate_capacities([x], multiple=1)
    assert caps == [n if n < m.size(1) else None for n, m in zip(unions, masks)]
    assert sum(c is not None for c in caps) >= len(caps) // 2
    net.set_capacities(caps)
    calls = []
    cls = GatedBasicBlock if depth == 18 else GatedBottleneck
    original = cls.capped_conv2
    monkeypatch.setattr(cls, 'capped_conv2',
                        lambda self, xs, m: calls.append(self.capacity) or original(self, xs, m))
    with torch.no_grad():
        outs, overflow = net.forward_capped(x, gated=True)
        assert calls == [c for c in caps if c is not None]
        assert not overflow
        assert (outs[0] - masked[0]).abs().max() < 1e-4
        assert torch.equal(net(x, gated=True)[0], outs[0])
        assert launches(lambda: net.forward_capped(x, gated=True))['host_syncs'] == 0
        assert launches(lambda: net(x, gated=True))['host_syncs'] == 1
        # topped up with channels no image keeps: still the same numbers
        net.set_capacities([c and min(c + 3, m.size(1) - 1) for c, m in zip(caps, masks)])
        assert (net(x, gated=True)[0] - masked[0]).abs().max() < 1e-4


def test_capacity_overflow_is_detected_and_the_batch_computed_again():
    net, x, masked, masks = capped_setup()
    caps = net.calibrate_capacities([x], multiple=1)
    net.set_capacities([c and max(1, c - 2) for c in caps])  # too small for this batch
    with torch.no_grad():
        outs, overflow = net.forward_capped(x, gated=True)
        assert overflow and (outs[0] - masked[0]).abs().max() > 1e-2
        assert (net(x, gated=True)[0] - masked[0]).abs().max() < 1e-4
    assert [blk.capacity for blk in net.gated_blocks] == [c and max(1, c - 2) for c in caps]
    net.train()  # training never takes the capped path: gradients reach every channel
    outs, overflow = net.forward_capped(x, gated=True)
    assert overflow is None


def test_calibrated_capacities_round_up_and_hold_every_batch():
    net, x, _, _ = capped_setup(batch=16)
    batches = list(x.split(4))
    with torch.no_grad():
        unions = torch.tensor([[int(m.amax(0).sum()) for m in net.forward_gated(b)[1]]
                               for b in batches]).amax(0)
    net.train()
    caps = net.calibrate_capacities(batches, multiple=8)
    assert net.training  # left as it was
    for cap, n, blk in zip(caps, unions.tolist(), net.gated_blocks):
        c = blk.gate.out_channels
        expected = max(8, -(-n // 8) * 8)
        assert cap == (expected if expected < c else None)
    assert any(c is not None for c in caps)
    net.eval()
    net.set_capacities(caps)
    with torch.no_grad():
        assert all(not net.forward_capped(b, gated=True)[1] for b in batches)


@pytest.mark.parametrize('caps, match', [
    ([4] * 3, r'3 given, the network has 8 gated blocks'),
    ([16] + [None] * 7, r'capacities\[0\] = 16: block 0 gates 16 channels; .* \[1, 15\]'),
    ([None, 0] + [None] * 6, r'capacities\[1\] = 0'),
    ([None, 2.5] + [None] * 6, r'capacities\[1\] = 2.5'),
    ([True] + [None] * 7, r'capacities\[0\] = True'),
])
def test_bad_capacities(caps, match):
    net = small(base_channels=16, stem_channels=16)
    with pytest.raises(ValueError, match=match):
        net.set_capacities(caps)
    assert all(blk.capacity is None for blk in net.gated_blocks)  # nothing half set
    with pytest.raises(ValueError, match='multiple 0'):
        net.calibrate_capacities([], multiple=0)


def test_bad_norm_type():
    with pytest.raises(ValueError, match="supports 'BN' and 'SyncBN'"):
        small(norm_cfg=dict(type='GN', num_groups=2))


def test_export_gives_each_branch_as_a_network_of_its_own():
    """``export('dense')`` is a plain ResNet computing the dense branch; ``export('gated')`` a
    GatedResNet that runs the gated branch by default; both rebuild from their config."""
    from mmengine.registry import MODELS

    from conftest import randomize_bn
    torch.manual_seed(0)
    net = GatedResNet(18, stem_channels=16, base_channels=16, small_input=True, stem_padding=2,
                      dual_bn=True, dual_bn_shortcut=False, out_indices=(2, 3)).eval()
    randomize_bn(net)
    x = torch.randn(2, 3, 32, 32)
    dense, dense_cfg = net.export('dense')
    gated, gated_cfg = net.export('gated')
    assert not [k for k in dense.state_dict() if 'gate' in k]
    with torch.no_grad():
        for a, b in zip(dense(x), net(x, gated=False)):
            torch.testing.assert_close(a, b)
        for a, b in zip(gated(x), net(x, gated=True)):
            torch.testing.assert_close(a, b)
        rebuilt = MODELS.build(dense_cfg).eval()
        rebuilt.load_state_dict(dense.state_dict(), strict=True)
        torch.testing.assert_close(rebuilt(x)[-1], net(x, gated=False)[-1])
    assert gated_cfg['type'] == 'dspnet_mm.GatedResNet' and gated_cfg['gated'] is True
    assert dense_cfg['stem_padding'] == 2
    with pytest.raises(ValueError, match="branch 'sparse' is not one of"):
        net.export('sparse')
