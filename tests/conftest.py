import os

import pytest
import torch

torch.set_num_threads(2)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def randomize_bn(module):
    """Give every BN non-trivial statistics and affine parameters (so slicing errors show)."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def load_tool(relpath: str):
    """A script under ``tools/`` as a module (to call its ``main(argv)`` in-process), loaded
    from its file: no ``sys.path`` changes."""
    import importlib.util
    path = os.path.join(REPO, 'tools', relpath)
    spec = importlib.util.spec_from_file_location('tool_' + relpath[:-3].replace('/', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
