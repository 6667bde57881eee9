from .slimmable_resnet import SlimmableResNet, slice_supernet_state_dict

__all__ = ['SlimmableResNet', 'slice_supernet_state_dict']
