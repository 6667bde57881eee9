"""bf16 training on the CPU: ``CPUAmpOptimWrapper``, ``tools/train.py --amp`` on a CPU, and
exact resume in bf16."""
import os

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from torch import nn

import dspnet_mm  # noqa: F401
from conftest import REPO, load_tool
from dspnet_mm.engine.optimizers import CPUAmpOptimWrapper, cpu_amp

needs_bf16 = pytest.mark.skipif(not cpu_amp.cpu_bf16_features(),
                                reason='this CPU has no bf16 instructions')


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2)
        self.seen = []
        self.conv.register_forward_hook(lambda m, i, o: self.seen.append(o))

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def no_bf16(monkeypatch):
    caps = {k: v for k, v in torch.cpu.get_capabilities().items()
            if k not in cpu_amp.BF16_FEATURES}
    monkeypatch.setattr(torch.cpu, 'get_capabilities', lambda: caps)


@needs_bf16
@pytest.mark.parametrize('channels_last', [False, True])
def test_wrapper_autocasts_the_forward_and_keeps_fp32_state(channels_last):
    torch.manual_seed(0)
    net = Net()
    wrapper = build_optim_wrapper(net, dict(
        type='CPUAmpOptimWrapper', channels_last=channels_last,
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9)))
    assert isinstance(wrapper, CPUAmpOptimWrapper)
    before = net.conv.weight.detach().clone()
    with wrapper.optim_context(net):
        loss = net(torch.randn(4, 3, 10, 10)).square().mean()
    assert net.seen[-1].dtype == torch.bfloat16  # the convolution ran in bf16
    assert net.conv.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    wrapper.update_params(loss)
    for p in net.parameters():
        assert p.dtype == torch.float32
    assert net.conv.weight.grad is None or net.conv.weight.grad.dtype == torch.float32
    assert not torch.equal(before, net.conv.weight)  # the step changed the weights
    assert all(v.dtype == torch.float32 for v in net.state_dict().values() if v.is_floating_point())
    with wrapper.optim_context(net):  # the weights it converted stay the optimizer's
        net(torch.randn(4, 3, 10, 10)).sum().backward()
    assert all(p.grad is not None for p in wrapper.optimizer.param_groups[0]['params'])
    # outside the wrapper's context nothing is autocast
    net(torch.randn(4, 3, 10, 10))
    assert net.seen[-1].dtype == torch.float32


def test_wrapper_fp32_and_a_cpu_without_bf16(monkeypatch):
    net = Net()
    opt = dict(optimizer=dict(type='SGD', lr=0.1))
    wrapper = build_optim_wrapper(net, dict(type='CPUAmpOptimWrapper', dtype='float32', **opt))
    with wrapper.optim_context(net):
        net(torch.randn(2, 3, 6, 6))
    assert net.seen[-1].dtype == torch.float32
    with pytest.raises(ValueError, match="dtype 'float16' is not one of"):
        build_optim_wrapper(net, dict(type='CPUAmpOptimWrapper', dtype='float16', **opt))
    no_bf16(monkeypatch)
    with pytest.raises(RuntimeError, match='this CPU has no bf16 instructions'):
        build_optim_wrapper(net, dict(type='CPUAmpOptimWrapper', **opt))
    # the CPU configs' default: fp32 on such a CPU, said once
    wrapper = build_optim_wrapper(net, dict(type='CPUAmpOptimWrapper', on_unsupported='fp32',
                                            **opt))
    with wrapper.optim_context(net):
        net(torch.randn(2, 3, 6, 6))
    assert net.seen[-1].dtype == torch.float32


def test_train_amp_on_a_cpu_without_bf16_is_one_error(monkeypatch, capsys):
    train = load_tool('train.py')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    no_bf16(monkeypatch)
    code = train.main([os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py'), '--amp',
                       '--work-dir', '/nonexistent/never-written'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith('error: --amp: this CPU has no bf16 instructions')
    assert not os.path.exists('/nonexistent/never-written')


@needs_bf16
def test_train_amp_sets_the_cpu_wrapper():
    train = load_tool('train.py')
    for config in ('dspnet_r18_fmnist.py', 'vicreg_r18_fmnist.py'):
        cfg = train.build_config(train.parse_args([os.path.join(REPO, 'configs', config),
                                                   '--amp']))
        assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16'
        assert cfg.optim_wrapper.on_unsupported == 'error'


# exact resume in bf16: tests/test_engine/test_reliability.py (the CPU configs train in bf16)


@needs_bf16
def test_dspnet_losses_are_fp32_under_bf16_autocast():
    """The backbone runs in bf16; the cosine losses are computed in fp32 (CPU autocast would
    normalise and sum in bf16, a 3-digit loss)."""
    from dspnet_mm.apis.benchmark import build_model, fake_views
    model, optim = build_model(os.path.join(REPO, 'configs', 'dspnet_r18_fmnist.py'),
                               precision='bf16_cl')
    data = model.data_preprocessor(fake_views(4), True)
    seen = []
    model.backbone.register_forward_hook(lambda m, i, o: seen.append(o[-1].dtype))
    with optim.optim_context(model):
        losses = model.loss(*data) if isinstance(data, tuple) else model.loss(**data)
    assert seen and set(seen) == {torch.bfloat16}
    assert len(losses) >= 2 and all(v.dtype == torch.float32 for v in losses.values()), \
        {k: v.dtype for k, v in losses.items()}
