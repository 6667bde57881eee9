"""A network as an ONNX file, checked against PyTorch and run in onnxruntime
(``tools/pick.py --runtime onnxruntime``, ``--export-onnx``).

onnx and onnxruntime are an optional extra: ``pip install -e .[deploy]``."""
import os
from typing import List, Optional

import numpy as np
import torch
import torch.nn as nn

from .cli import UsageError

INPUT = 'input'
INSTALL = 'pip install -e .[deploy]  (installs onnx, onnxscript and onnxruntime)'
MAX_ABS_DIFF = 1e-4  # fp32 outputs of onnxruntime and PyTorch may differ by rounding only


def require():
    """Import onnx and onnxruntime, or say in one line how to install them."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise UsageError(f'{e.name} is not installed; for ONNX export and --runtime '
                         f'onnxruntime: {INSTALL}') from None


def providers(device: torch.device) -> List[str]:
    """The onnxruntime execution providers for ``device``; refused when this onnxruntime
    build cannot run there."""
    require()
    import onnxruntime as ort
    if device.type == 'cpu':
        return ['CPUExecutionProvider']
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        raise UsageError(f'--runtime onnxruntime --device {device}: this onnxruntime has no '
                         'CUDA provider (install onnxruntime-gpu), or time on --device cpu')
    return [('CUDAExecutionProvider', dict(device_id=device.index or 0)),
            'CPUExecutionProvider']


class _Outputs(nn.Module):
    """The network with its output as a flat tuple of tensors (one per ``out_indices``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = self.net(x)
        return tuple(out) if isinstance(out, (tuple, list)) else (out, )


def export_onnx(net: nn.Module, example: torch.Tensor, path: str) -> str:
    """Write ``net`` (eval mode, fp32, CPU) to ``path`` as ONNX with a dynamic batch
    dimension; ``example`` (N, C, H, W) fixes the other dimensions."""
    require()
    net = net.eval().float().cpu()
    wrapped = _Outputs(net).eval()
    with torch.no_grad():
        n_out = len(wrapped(example[:1]))
    names = [f'out{i}' for i in range(n_out)]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    batch = torch.export.Dim('batch', min=1)
    with torch.no_grad():
        torch.onnx.export(wrapped, (example.float().cpu(), ), path, input_names=[INPUT],
                          output_names=names, dynamic_shapes=({0: batch}, ), dynamo=True,
                          optimize=True, verbose=False, external_data=False)
    return path


def session(path: str, threads: Optional[int] = None,
            device: Optional[torch.device] = None):
    """An onnxruntime session of ``path`` (``threads`` intra-op threads; default: its own)."""
    require()
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: keep its warnings out of the tool's output
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts,
                                providers=providers(device or torch.device('cpu')))


def run(sess, x: torch.Tensor) -> List[np.ndarray]:
    return sess.run(None, {INPUT: x.float().cpu().numpy()})


def check_against_torch(net: nn.Module, sess, x: torch.Tensor, name: str = 'network',
                        tolerance: float = MAX_ABS_DIFF) -> float:
    """The largest absolute difference between onnxruntime's and PyTorch's outputs on ``x``
    (fp32); above ``tolerance`` the export is wrong and ``ValueError`` says so."""
    with torch.no_grad():
        expected = _Outputs(net.eval().float().cpu())(x.float().cpu())
    got = run(sess, x)
    if len(got) != len(expected):
        raise ValueError(f'{name}: the ONNX file returns {len(got)} outputs, PyTorch '
                         f'{len(expected)}')
    diff = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
    if not diff <= tolerance:
        raise ValueError(f'{name}: onnxruntime differs from PyTorch by up to {diff:.3g} '
                         f'(fp32, allowed {tolerance:g}): the export is wrong')
    return diff
