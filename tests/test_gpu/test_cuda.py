"""Checks that need a CUDA GPU (CI has none: there they are skipped, never counted as
passed). A session with a GPU runs them through ``bash tools/benchmarks/run_cuda.sh OUT``."""
import pytest
import torch

from dspnet_mm.apis import CudaGraphed
from dspnet_mm.models import GatedResNet
from dspnet_mm.models.backbones.gated_resnet import GatedBasicBlock

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


def gated_net():
    torch.manual_seed(0)
    net = GatedResNet(18, base_channels=16, stem_channels=16).cuda().eval()
    for blk in net.gated_blocks:  # a real mix of kept and dropped channels
        blk.gate.bn.bias.data.fill_(0.5)
    return net


@pytest.mark.parametrize('dtype', [None, torch.bfloat16])
def test_cuda_graphed_gated_branch_equals_eager(dtype):
    net = gated_net()
    x = torch.randn(4, 3, 64, 64, device='cuda')
    graph = CudaGraphed(lambda inp: net(inp, gated=True), x, autocast_dtype=dtype)
    with torch.no_grad(), torch.autocast('cuda', dtype=dtype or torch.float32,
                                         enabled=dtype is not None):
        eager = net(x, gated=True)[0]
    for _ in range(3):  # replays read the new input, the outputs are copies
        out = graph(x)[0]
        assert torch.equal(out, eager)
    other = torch.randn_like(x)
    with torch.no_grad(), torch.autocast('cuda', dtype=dtype or torch.float32,
                                         enabled=dtype is not None):
        assert torch.equal(graph(other)[0], net(other, gated=True)[0])
    with pytest.raises(ValueError, match='captured for inputs of shape'):
        graph(x[:2])


def test_cuda_graphed_refuses_the_callers_autocast():
    net = gated_net()
    x = torch.randn(2, 3, 32, 32, device='cuda')
    with torch.autocast('cuda', dtype=torch.bfloat16), pytest.raises(
            ValueError, match='pass autocast_dtype'):
        CudaGraphed(lambda inp: net(inp, gated=True), x)


def test_gated_branch_runs_dense_x_mask_on_cuda(monkeypatch):
    """SPARSE_MIN_MACS['cuda'] = inf: no block takes the sparse path (measured slower on an
    H200), so the gated branch never waits for the host."""
    net = gated_net()
    calls = []
    original = GatedBasicBlock.sparse_conv2
    monkeypatch.setattr(GatedBasicBlock, 'sparse_conv2',
                        lambda self, x, m: calls.append(1) or original(self, x, m))
    with torch.no_grad():
        out, masks = net.forward_gated(torch.randn(64, 3, 64, 64, device='cuda'))
    density = torch.cat([m.flatten() for m in masks]).mean()
    assert 0.05 < density < 0.95 and calls == []


@pytest.mark.parametrize('dtype', [None, torch.bfloat16])
def test_capped_gated_branch_is_captured_and_equals_dense_x_mask(dtype):
    """Static capacities make the gated branch capturable: the graph of ``forward_capped``
    equals eager dense x mask, and a batch that outgrows the capacities says so."""
    net = gated_net()
    x = torch.randn(64, 3, 64, 64, device='cuda')
    amp = dict(device_type='cuda', dtype=dtype or torch.float32, enabled=dtype is not None)
    with torch.no_grad(), torch.autocast(**amp):
        masked = net(x, gated=True)[0]
    with torch.autocast(**amp):  # the masks of the precision that will run
        caps = net.calibrate_capacities([x])
    assert any(c is not None for c in caps)
    net.set_capacities(caps)
    graph = CudaGraphed(lambda inp: net.forward_capped(inp, gated=True), x,
                        autocast_dtype=dtype)
    outs, overflow = graph(x)
    assert not overflow
    tol = 1e-4 if dtype is None else 5e-2
    assert (outs[0] - masked).abs().max() <= tol * masked.abs().max()
    net.set_capacities([c and max(1, c // 4) for c in caps])  # too small: flagged
    graph = CudaGraphed(lambda inp: net.forward_capped(inp, gated=True), x,
                        autocast_dtype=dtype)
    assert graph(x)[1]
    with torch.no_grad(), torch.autocast(**amp):  # and forward computes it again
        assert (net(x, gated=True)[0] - masked).abs().max() <= tol * masked.abs().max()
