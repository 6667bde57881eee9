"""FLOPs and parameters of ResNet shapes, counted by mmengine's complexity analyzer."""
from typing import Dict, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info


def complexity(model: nn.Module, input_shape: Sequence[int]) -> Dict[str, int]:
    """Multiply-accumulate count ("FLOPs" as reported by mmengine/fvcore) and parameters of
    ``model`` on one image of ``input_shape`` (C, H, W), evaluated in eval mode."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        info = get_model_complexity_info(model, input_shape=tuple(input_shape),
                                         show_table=False, show_arch=False)
    model.train(was_training)
    return dict(flops=int(info['flops']), params=int(info['params']))
