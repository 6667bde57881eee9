"""Dual BN: one BN layer with a second set of parameters and statistics for the gated branch
(Krishna et al., BMVC 2023: the dense and the gated branch share every conv, not their BNs)."""
from typing import Dict

import torch
import torch.nn as nn

from ..utils.batch_norm import batch_norm

# where checkpoints written before DualBatchNorm2d existed kept the gated BN (the gated
# network used the slimmable network's SwitchableBatchNorm2d, key 'gated'); loading renames
LEGACY_GATED_PREFIX = 'subnet_bns.gated.'
GATED_PREFIX = 'gated_bn.'


class DualBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` (the dense branch, standard key names, so a stock ResNet reads the
    dense network) plus ``gated_bn`` (the gated branch: ``layer1.0.bn1.gated_bn.weight``...),
    chosen by ``use_gated``.

    Checkpoints written before this class stored the gated BN as ``subnet_bns.gated.*``;
    ``load_state_dict`` (and so mmengine's ``load_checkpoint`` and resume) reads them too.

    Args:
        num_features: channels C.
        eps, momentum: as ``nn.BatchNorm2d``, for both branches.
        sync: synchronise statistics across processes (SyncBN) when distributed on GPU.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 sync: bool = False):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.sync = sync
        self.use_gated = False
        self.gated_bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum)
        self._register_load_state_dict_pre_hook(_rename_legacy_keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.gated_bn if self.use_gated else self
        return batch_norm(x, bn, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                          self.training, self.eps, self.sync)

    @property
    def active(self) -> nn.BatchNorm2d:
        """The BN the chosen branch runs (this module or ``gated_bn``)."""
        return self.gated_bn if self.use_gated else self


def _rename_legacy_keys(state_dict, prefix, *args):
    old = prefix + LEGACY_GATED_PREFIX
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + GATED_PREFIX + key[len(old):]] = state_dict.pop(key)


def upgrade_gated_keys(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """A gating ``state_dict`` with the keys of today's ``DualBatchNorm2d``: the same dict
    when it has none of the old ``.subnet_bns.gated.`` keys, else a renamed copy. For code that
    compares keys before loading (``load_state_dict`` renames by itself)."""
    old = '.' + LEGACY_GATED_PREFIX
    if not any(old in k for k in state_dict):
        return state_dict
    return {k.replace(old, '.' + GATED_PREFIX): v for k, v in state_dict.items()}
