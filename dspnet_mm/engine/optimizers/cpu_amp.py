"""Mixed precision on the CPU: bf16 autocast where the CPU has bf16 instructions.

mmengine 0.10.7's ``AmpOptimWrapper`` refuses CPUs (``AmpOptimWrapper is only available
training on gpu, npu, mlu or musa``). bf16 keeps fp32's exponent range, so it needs no loss
scaling: autocasting the forward and loss is all there is to it. Weights, their gradients,
the optimizer state and so every checkpoint stay fp32.
"""
import contextlib
from typing import Optional

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

# CPU features with bf16 arithmetic (x86 AVX512-BF16 / AMX-BF16, Arm BF16); without them
# oneDNN emulates bf16, and autocast makes training slower, not faster
BF16_FEATURES = ('avx512_bf16', 'amx_bf16', 'bf16', 'sve_bf16')
DTYPES = dict(bfloat16=torch.bfloat16, float32=None)


def cpu_bf16_features() -> list:
    """The bf16 features of this CPU among ``BF16_FEATURES`` (empty when it has none)."""
    caps = torch.cpu.get_capabilities()
    return [f for f in BF16_FEATURES if caps.get(f)]


def bf16_unsupported_message(what: str = '--amp') -> Optional[str]:
    """Why bf16 training cannot run on this CPU, or None when it can."""
    if cpu_bf16_features():
        return None
    return (f'{what}: this CPU has no bf16 instructions (none of '
            f'{", ".join(BF16_FEATURES)}), so bf16 autocast would be emulated and slower than '
            'fp32; train in fp32 (without --amp), or on a GPU')


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward (``optim_context``) runs under ``torch.autocast('cpu',
    bfloat16)`` when the model is on the CPU; on another device it is a plain OptimWrapper.

    Its state dict is ``OptimWrapper``'s (no loss scaler), so fp32 and bf16 runs resume from
    each other's checkpoints.

    Args:
        dtype: ``'bfloat16'``, or ``'float32'`` for no autocast (the way to train a config
            that sets this wrapper in fp32: ``--cfg-options optim_wrapper.dtype=float32``).
        channels_last: also convert the model to the channels-last memory format on its first
            step (oneDNN's preferred layout for bf16 convolutions; on this project's CPU a
            bf16 DSPNet step is 1.26x faster with it). Parameters stay the optimizer's
            objects; runs stay bit-for-bit repeatable and resumable.
        on_unsupported: ``'error'`` (``--amp``): a CPU without bf16 instructions raises
            ``RuntimeError`` naming them; ``'fp32'`` (the CPU configs' default): it trains in
            fp32 and says so once in the log.
        **kwargs: those of ``OptimWrapper`` (``optimizer``, ``accumulative_counts``,
            ``clip_grad``).
    """

    def __init__(self, *args, dtype: str = 'bfloat16', channels_last: bool = True,
                 on_unsupported: str = 'error', **kwargs):
        super().__init__(*args, **kwargs)
        if dtype not in DTYPES:
            raise ValueError(f'CPUAmpOptimWrapper: dtype {dtype!r} is not one of '
                             f'{sorted(DTYPES)}')
        if on_unsupported not in ('error', 'fp32'):
            raise ValueError(f"CPUAmpOptimWrapper: on_unsupported {on_unsupported!r} must be "
                             "'error' or 'fp32'")
        self.cast_dtype = DTYPES[dtype]
        self.channels_last = channels_last
        problem = bf16_unsupported_message('bf16 training') if self.cast_dtype else None
        if problem and on_unsupported == 'error':
            raise RuntimeError(problem)
        if problem:
            self.cast_dtype = None
            print_log(problem.split(';')[0] + ': training in fp32', logger='current')
        elif self.cast_dtype is not None:
            print_log(f'bf16 autocast on the CPU ({", ".join(cpu_bf16_features())})'
                      + (', channels-last model' if channels_last else ''), logger='current')
        self._converted = set()

    @contextlib.contextmanager
    def optim_context(self, model: torch.nn.Module):
        on_cpu = next(model.parameters()).device.type == 'cpu'
        if self.cast_dtype is None or not on_cpu:
            with super().optim_context(model):
                yield
            return
        if self.channels_last and id(model) not in self._converted:
            # in place: the parameters the optimizer holds stay the same objects
            model.to(memory_format=torch.channels_last)
            self._converted.add(id(model))
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield
