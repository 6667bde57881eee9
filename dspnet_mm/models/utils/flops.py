"""FLOPs and parameters of ResNet shapes, counted by mmengine's complexity analyzer."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count


def complexity(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, int]:
    """Multiply-accumulate count ("FLOPs" as reported by mmengine/fvcore) and parameters of
    ``model`` on one image of ``input_shape`` (C, H, W), evaluated in eval mode.

    The analyzer's warnings about operators it does not count (ReLU, adds, pooling: the
    fvcore convention) and modules a forward does not call (inactive blocks of a sub-network)
    are turned off: they ask nothing of the user."""
    was_training = model.training
    model.eval()
    inputs = (torch.randn(1, *input_shape, device=next(model.parameters()).device), )
    with torch.no_grad():
        analyzer = (FlopAnalyzer(model, inputs).unsupported_ops_warnings(False)
                    .uncalled_modules_warnings(False))
        flops = analyzer.total()
    model.train(was_training)
    return dict(flops=int(flops), params=int(parameter_count(model)['']))
