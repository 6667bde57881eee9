from .backbone import (BACKBONE_PREFIXES, LoadedBackbone, backbone_config,
                       backbone_state_dict, build_backbone, load_backbone)
from .checkpoint import (CheckpointError, load_checkpoint_safely,
                         mmengine_checkpoint_globals, register_checkpoint_globals)
from .inference import CudaGraphed
from .slim import (export_branch, list_subnets, load_supernet, save_atomically, slim,
                   stock_resnet_kwargs)

__all__ = ['BACKBONE_PREFIXES', 'LoadedBackbone', 'backbone_config', 'backbone_state_dict',
           'build_backbone', 'load_backbone', 'CudaGraphed', 'CheckpointError', 'load_checkpoint_safely',
           'mmengine_checkpoint_globals', 'register_checkpoint_globals', 'export_branch',
           'list_subnets', 'load_supernet', 'save_atomically', 'slim', 'stock_resnet_kwargs']
from .transfer import (SlimmableResNetTrunk, SubnetResLayer, check_pretrained,  # noqa: E402
                       subnet_stage_channels, with_subnet_channels)

__all__ += ['SlimmableResNetTrunk', 'SubnetResLayer', 'check_pretrained',
            'subnet_stage_channels', 'with_subnet_channels']
from .deploy import PickSettings, choose, pareto_front, pick  # noqa: E402

__all__ += ['PickSettings', 'choose', 'pareto_front', 'pick']
