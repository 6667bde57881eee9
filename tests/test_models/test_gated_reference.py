"""GatedResNet options that reproduce the dynamic-gating reference code (KrishnaTarun/Unification,
``solo/methods/ResCg/resnet_gating.py`` and ``mask.py``): its CIFAR stem, its FLOPs counter, its
dual BN layout and its gate BN. The oracles transcribe the reference's own formulas."""
import math

import pytest
import torch
import torch.nn as nn

from dspnet_mm.models import GatedResNet
from dspnet_mm.models.gating import DualBatchNorm2d


def conv2d_out_dim(dim, kernel_size, padding=0, stride=1, dilation=1):
    """``resnet_gating.conv2d_out_dim`` (floor mode)."""
    return int(math.floor((dim + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1))


def reference_resdg18_flops(h, cifar, masks=None):
    """``ResDG(BasicBlock, [2, 2, 2, 2])``'s counter: (flops_ori + flops_conv1, flops_real)
    with ``flops_real = sum_blocks get_flops(mask) + flops_mask + flops_conv1`` (fc = 0), for
    one image; ``masks``: one list of active-channel counts per block, or None (dense)."""
    if cifar:
        h = conv2d_out_dim(h, 3, stride=1, padding=2)
        flops_conv1 = 9 * h * h * 64 * 3
    else:
        h = conv2d_out_dim(h, 7, stride=2, padding=3)
        flops_conv1 = 49 * h * h * 64 * 3
        h = conv2d_out_dim(h, 3, stride=2, padding=1)
    inplanes, ori, real, mask_flops, b = 64, 0, 0, 0, 0
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for i in range(2):
            s = stride if i == 0 else 1
            has_ds = s != 1 or inplanes != planes
            hh = conv2d_out_dim(h, 3, stride=s, padding=1)
            ds = hh * hh * planes * inplanes if has_ds else 0
            ori += 9 * hh * hh * planes * inplanes + 9 * hh * hh * planes * planes + ds
            c_sum = planes if masks is None else masks[b]
            real += 9 * c_sum * inplanes * hh * hh + 9 * c_sum * planes * hh * hh + ds
            bottleneck = inplanes // 4  # Mask_c.get_flops
            mask_flops += inplanes * bottleneck + bottleneck * planes
            h = conv2d_out_dim(h, 1, stride=s, padding=0)
            inplanes, b = planes, b + 1
    return ori + flops_conv1, real + mask_flops + flops_conv1


def test_cifar_stem_padding_2_gives_maps_34_17_9_5():
    net = GatedResNet(18, small_input=True, stem_padding=2, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = net(torch.zeros(1, 3, 32, 32))
    assert [o.shape[-1] for o in outs] == [34, 17, 9, 5]
    assert net.conv1.padding == (2, 2) and net.conv1.kernel_size == (3, 3)
    standard = GatedResNet(18, small_input=True, out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        assert [o.shape[-1] for o in standard(torch.zeros(1, 3, 32, 32))] == [32, 16, 8, 4]
    with pytest.raises(ValueError, match="stem_padding -1"):
        GatedResNet(18, small_input=True, stem_padding=-1)


def test_dense_flops_of_the_cifar_resnet18_are_table_1s():
    net = GatedResNet(18, small_input=True, stem_padding=2, flops_convention='reference')
    table = net.flops((3, 32, 32))
    assert table.dense == 703_560_448 == reference_resdg18_flops(32, cifar=True)[0]
    assert str(table.dense)[:3] == '703'  # Table 1 writes 7.03E8 (truncated)
    # the reference counter's own log of this network (bash_files/knn/cifar10/0.1_knn.json)
    assert float(table.dense) == 703560448.0


@pytest.mark.parametrize('size, cifar', [(32, True), (96, False), (64, False)])
def test_gated_flops_of_random_masks_are_the_reference_counters(size, cifar):
    torch.manual_seed(size)
    net = GatedResNet(18, small_input=cifar, stem_padding=2 if cifar else None,
                      flops_convention='reference')
    table = net.flops((3, size, size))
    masks = [(torch.rand(3, c) < p).float()
             for c, p in zip(table.channels, (0.1, .9, .5, .3, .7, .2, .6, .4))]
    per_image = table.per_image(masks)
    for n in range(3):
        ori, real = reference_resdg18_flops(size, cifar, [int(m[n].sum()) for m in masks])
        assert table.dense == ori
        assert per_image[n].item() == real
    # all channels on: the dense network plus the gates' 1x1 convs (never in the dense count)
    on = [torch.ones(1, c) for c in table.channels]
    assert table.per_image(on).item() == reference_resdg18_flops(size, cifar)[1]
    assert table.gates == reference_resdg18_flops(size, cifar)[1] - table.dense


def test_the_two_conventions_are_both_available():
    net = GatedResNet(18, small_input=True, stem_padding=2)
    assert net.flops((3, 32, 32)).convention == 'mmengine'  # the default stays
    full, ref = net.flops((3, 32, 32)), net.flops((3, 32, 32), 'reference')
    assert full.dense > ref.dense == 703_560_448  # BN elements counted on top
    assert full.gates > ref.gates  # pooling and BN of the gates
    with pytest.raises(ValueError, match="'macs'.*'reference', 'mmengine'"):
        net.flops((3, 32, 32), 'macs')
    with pytest.raises(ValueError, match="flops_convention 'x'"):
        GatedResNet(18, flops_convention='x')


def test_dual_bn_only_on_block_bn1_bn2_as_the_reference():
    net = GatedResNet(18, dual_bn=True, dual_bn_shortcut=False, small_input=True)
    for blk in net.gated_blocks:
        assert isinstance(blk.bn1, DualBatchNorm2d)
        assert isinstance(blk.bn2, DualBatchNorm2d)
        if blk.downsample is not None:
            assert type(blk.downsample[1]) is nn.BatchNorm2d
        assert type(blk.gate.bn) is nn.BatchNorm2d
    assert type(net.bn1) is nn.BatchNorm2d
    keys = net.state_dict().keys()
    assert not [k for k in keys if 'downsample' in k and 'gated_bn' in k]
    assert 'layer1.0.bn1.gated_bn.weight' in keys
    # the shared shortcut BN learns statistics from both branches
    ds = net.layer2[0].downsample[1]
    before = ds.running_mean.clone()
    net.train()
    net(torch.randn(2, 3, 16, 16), gated=False)
    after_dense = ds.running_mean.clone()
    net(torch.randn(2, 3, 16, 16), gated=True)
    assert not torch.equal(before, after_dense)
    assert not torch.equal(after_dense, ds.running_mean)
    frozen = GatedResNet(18, dual_bn=True, dual_bn_shortcut=False, frozen_stages=4)
    assert not any(p.requires_grad for p in frozen.layer2[0].downsample[1].parameters())
    # and our fuller dual BN stays the default
    default = GatedResNet(18, dual_bn=True)
    assert isinstance(default.layer2[0].downsample[1], DualBatchNorm2d)


def test_gate_bn_follows_gate_norm_cfg():
    net = GatedResNet(18, gate_norm_cfg=dict(type='SyncBN'))
    assert all(isinstance(b.gate.bn, nn.SyncBatchNorm) for b in net.gated_blocks)
    assert net.layer1[0].gate.bn.num_features == 64 // 4
