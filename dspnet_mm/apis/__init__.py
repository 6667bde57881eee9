from .checkpoint import (CheckpointError, load_checkpoint_safely,
                         mmengine_checkpoint_globals, register_checkpoint_globals)
from .slim import (export_branch, list_subnets, load_supernet, save_atomically, slim,
                   stock_resnet_kwargs)

__all__ = ['CheckpointError', 'load_checkpoint_safely', 'mmengine_checkpoint_globals',
           'register_checkpoint_globals', 'export_branch', 'list_subnets', 'load_supernet',
           'save_atomically', 'slim', 'stock_resnet_kwargs']
from .transfer import (SlimmableResNetTrunk, SubnetResLayer, check_pretrained,  # noqa: E402
                       subnet_stage_channels, with_subnet_channels)

__all__ += ['SlimmableResNetTrunk', 'SubnetResLayer', 'check_pretrained',
            'subnet_stage_channels', 'with_subnet_channels']
