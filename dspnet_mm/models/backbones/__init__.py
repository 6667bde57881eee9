from .plain_resnet import PlainResNet
from .slimmable_resnet import SlimmableResNet, slice_supernet_state_dict

__all__ = ['PlainResNet', 'SlimmableResNet', 'slice_supernet_state_dict']
from .gated_resnet import GatedBasicBlock, GatedBottleneck, GatedResNet  # noqa: E402

__all__ += ['GatedResNet', 'GatedBasicBlock', 'GatedBottleneck']
from .slimmable_resnet_c4 import SlimmableResNetTrunk, SubnetResLayer  # noqa: E402

__all__ += ['SlimmableResNetTrunk', 'SubnetResLayer']
from .resnet_cifar import ResNetCIFAR  # noqa: E402

__all__ += ['ResNetCIFAR']
