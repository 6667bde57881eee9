"""Launch overhead, measured without a GPU: the ATen operators (kernel launches on a GPU) that a
DN run inside the supernet and a DSPNet step dispatch, against a plain network of the same shape
and the ideal step (tools/benchmarks/slim_overhead.py and train_cost.py report the same
counts; the DSPNet-step ceiling is in tests/test_tools/test_benchmarks.py). Ceilings, so slicing or dispatch overhead cannot creep back in unnoticed."""
import pytest
import torch

from conftest import load_tool

from dspnet_mm.apis.benchmark import aten_ops, pass_launches
from dspnet_mm.compat import count_dispatched_ops
from dspnet_mm.models import SlimmableResNet

slim_overhead = load_tool('benchmarks/slim_overhead.py')


@pytest.fixture(scope='module')
def supernet():
    torch.manual_seed(0)
    return SlimmableResNet(50, subnets=slim_overhead.SUBNETS)


def test_count_dispatched_ops_counts_kernels_not_views():
    x = torch.randn(4, 4)
    total, names = count_dispatched_ops(lambda: (x[:2, :2] + 1).relu().t().contiguous(), True)
    # slice/transpose are views (no kernel); add, relu and the contiguous copy are kernels
    assert names == {'add': 1, 'relu': 1, 'clone': 1} and total == 3
    assert aten_ops(lambda: x + x) == 1


@pytest.mark.parametrize('name', list(slim_overhead.SUBNETS))
def test_dn_inside_supernet_launches_like_a_plain_network(supernet, name):
    plain = supernet.export(name)
    supernet.set_subnet(name)
    counts = pass_launches(supernet, plain, torch.randn(2, 3, 32, 32))
    # inference: sliced weights are cached, so the supernet runs exactly the plain ops
    assert counts['eval']['supernet'] == counts['eval']['plain'], counts
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in plain.modules())
    # host work per pass (Python calls): at most a quarter more
    # than the plain network's (before this ceiling: up to 1.30 in eval, 1.43 in train)
    for mode in ('eval', 'train'):
        calls = counts[mode]['python_calls']
        assert calls['supernet'] <= 1.25 * calls['plain'], (mode, calls)
    if name == 'r50_w1':  # full width: nothing is sliced, nothing extra in backward either
        assert counts['train']['supernet'] == counts['train']['plain'], counts
    else:  # at most one full-size gradient (zero-fill + copy) per sliced conv weight
        assert counts['train']['plain'] < counts['train']['supernet'] <= (
            counts['train']['plain'] + 2 * convs), counts
        supernet.train()
        x = torch.randn(2, 3, 32, 32)
        ops = count_dispatched_ops(lambda: supernet(x)[0].mean().backward(), names=True)[1]
        assert ops.get('slice_backward', 0) + ops.get('new_zeros', 0) <= convs, ops


def test_gated_paths_host_synchronisations():
    """Ceilings for gated inference: dense and masked paths never wait for the host; the fast
    path reads each block's mask once, whatever the batch (the union of its masks' channels)."""
    launch_counts = load_tool('benchmarks/launch_counts.py')
    r = launch_counts.gated_inference()['by_batch']
    blocks = 8  # gated blocks of ResNet-18
    for batch, row in r.items():
        assert row['dense']['host_syncs'] == row['masked']['host_syncs'] == 0
        assert row['masked']['ops'] <= row['dense']['ops'] + 9 * blocks, row
    assert r['1']['fast']['host_syncs'] == blocks
    assert r['8']['fast']['host_syncs'] == blocks
