"""FLOPs accounting of the gated ResNet, cross-checked with mmengine's counter."""
import pytest
import torch
import torch.nn as nn

from mmengine.analysis import FlopAnalyzer

from dspnet_mm.models import GatedResNet
from dspnet_mm.models.utils.flops import complexity


def mmengine_flops(module, shape):
    """mmengine's FLOP counter alone (what ``complexity`` reports as 'flops', without the
    slower activation count)."""
    analyzer = FlopAnalyzer(module, torch.zeros(1, *shape))
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analyzer.total()


class Branch(nn.Module):
    """One branch of a GatedResNet as a plain module, for mmengine's counter."""

    def __init__(self, net, gated):
        super().__init__()
        self.net, self.gated = net, gated

    def forward(self, x):
        return self.net(x, gated=self.gated)


class FixedGate(nn.Module):
    """Stands in for a ChannelGate: returns a given mask (and costs nothing)."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask

    def forward(self, x):
        return self.mask.expand(x.size(0), -1)


def net_of(depth, **kwargs):
    return GatedResNet(depth, stem_channels=8, base_channels=8, **kwargs).eval()


@pytest.mark.parametrize('depth,small_input,shape', [(18, True, (3, 20, 20)),
                                                     (50, False, (1, 64, 48))])
def test_all_ones_mask_is_the_dense_network_plus_the_gates(depth, small_input, shape):
    net = net_of(depth, small_input=small_input, in_channels=shape[0])
    table = net.flops(shape)
    dense = mmengine_flops(Branch(net, False), shape)
    assert table.dense == dense
    ones = [torch.ones(2, c) for c in table.channels]
    assert torch.equal(table.per_image(ones), torch.full((2, ), float(dense + table.gates),
                                                         dtype=torch.float64))
    # the masked dense computation (what mmengine sees of the gated branch) costs exactly that
    net.set_sparse_inference(False)
    assert mmengine_flops(Branch(net, True), shape) == dense + table.gates
    assert table.kept(ones)[0] == pytest.approx(1 + table.gates / dense)


def test_all_zeros_mask_is_the_ungated_part():
    net = net_of(18, small_input=True)
    table = net.flops((3, 16, 16))
    # the repo's complexity() (mmengine) agrees on the dense network
    assert complexity(Branch(net, False), (3, 16, 16))['flops'] == table.dense
    zeros = [torch.zeros(1, c) for c in table.channels]
    assert table.per_image(zeros).item() == table.all_off == table.ungated + table.gates
    # ungated part by hand: stem conv + BN, both downsample convs + BNs, every conv2's BN
    stem = 8 * 3 * 9 * 256 + 2 * 8 * 256
    hw = {1: 256, 2: 64, 3: 16, 4: 4}
    out = {1: 8, 2: 16, 3: 32, 4: 64}
    bn2 = sum(2 * 2 * out[s] * hw[s] for s in hw)
    downsample = sum(out[s] * out[s - 1] * hw[s] + 2 * out[s] * hw[s] for s in (2, 3, 4))
    assert table.ungated == stem + bn2 + downsample


@pytest.mark.parametrize('depth', [18, 50])
def test_per_image_flops_of_random_masks_equal_the_sparse_computation(depth):
    """mmengine counting the sparse inference path (only active channels computed) agrees with
    the table for any mask; the gates are replaced by fixed masks, so their cost is left out."""
    net = net_of(depth, small_input=True)
    shape = (3, 16, 16)
    table = net.flops(shape)
    g = torch.Generator().manual_seed(0)
    masks = [(torch.rand(1, c, generator=g) < 0.4).float() for c in table.channels]
    masks[1].zero_()  # a block with every channel off
    for blk, m in zip(net.gated_blocks, masks):
        blk.gate = FixedGate(m)
    measured = mmengine_flops(Branch(net, True), shape)
    assert table.per_image(masks).item() - table.gates == measured


def test_per_image_values_and_gradient():
    net = net_of(18, small_input=True)
    table = net.flops((3, 16, 16))
    masks = [torch.zeros(3, c, requires_grad=True) for c in table.channels]
    with torch.no_grad():
        masks[0][1, :4] = 1  # image 1 keeps 4 channels of block 0
    flops = table.per_image(masks)
    assert flops[0] == flops[2] == table.all_off
    assert flops[1] == table.all_off + 4 * table.channel_flops[0]
    table.kept(masks).sum().backward()
    assert torch.allclose(masks[3].grad, torch.full_like(masks[3], table.channel_flops[3] /
                                                         table.dense))
    with pytest.raises(ValueError, match='expected 8 masks'):
        table.per_image(masks[:3])


def test_table_is_cached_per_input_size_and_keeps_train_mode():
    net = net_of(18, small_input=True).train()
    a = net.flops((3, 16, 16))
    assert net.training and net.flops((3, 16, 16)) is a
    assert net.flops((3, 32, 32)).dense > a.dense
