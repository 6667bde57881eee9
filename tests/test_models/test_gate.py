"""ChannelGate: hard forward, soft (straight-through) backward, deterministic eval."""
import torch

from dspnet_mm.models.gating import ChannelGate, straight_through_binary_concrete


def test_straight_through_value_is_hard_gradient_is_soft():
    logits = torch.randn(4, 16, requires_grad=True)
    u = torch.rand(4, 16)
    noise = torch.log(u) - torch.log1p(-u)
    tau = 2 / 3
    mask = straight_through_binary_concrete(logits, tau, noise)
    soft = torch.sigmoid((logits + noise) / tau)
    # forward: exactly the hard threshold of the relaxed sample
    assert set(mask.unique().tolist()) <= {0., 1.}
    assert torch.equal(mask, (soft >= 0.5).float())
    # backward: the gradient of the soft sample, sigma' / tau
    weights = torch.randn(4, 16)
    (mask * weights).sum().backward()
    s = soft.detach()
    assert torch.allclose(logits.grad, weights * s * (1 - s) / tau, atol=1e-6)
    assert logits.grad.abs().sum() > 0


def test_training_noise_flips_some_decisions_and_eval_is_deterministic():
    gate = ChannelGate(8, 32)
    x = torch.randn(16, 8, 5, 5)
    gate.eval()
    with torch.no_grad():
        logits = gate.logits(x)
        m1, m2 = gate(x), gate(x)
    assert torch.equal(m1, m2)
    assert torch.equal(m1, (logits >= 0).float())
    assert m1.shape == (16, 32) and 0 < m1.mean() < 1
    gate.train()
    samples = torch.stack([gate(x).detach() for _ in range(5)])
    assert set(samples.unique().tolist()) <= {0., 1.}
    assert not all(torch.equal(samples[0], s) for s in samples[1:])  # noisy in training


def test_gate_structure_and_flops():
    gate = ChannelGate(64, 128, reduction=4)
    assert gate.reduce.weight.shape == (16, 64, 1, 1) and gate.reduce.bias is None
    assert gate.expand.weight.shape == (128, 16, 1, 1) and gate.expand.bias is None
    # pool 64*7*7, 1x1 convs 64*16 + 16*128, BN 2*16
    assert gate.flops(7, 7) == 64 * 49 + 64 * 16 + 2 * 16 + 16 * 128
    assert ChannelGate(3, 8).hidden_channels == 1
