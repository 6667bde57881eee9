from .checkpoint import (CheckpointError, load_checkpoint_safely,
                         mmengine_checkpoint_globals, register_checkpoint_globals)
from .slim import list_subnets, load_supernet, save_atomically, slim, stock_resnet_kwargs

__all__ = ['CheckpointError', 'load_checkpoint_safely', 'mmengine_checkpoint_globals',
           'register_checkpoint_globals', 'list_subnets', 'load_supernet', 'save_atomically',
           'slim', 'stock_resnet_kwargs']
