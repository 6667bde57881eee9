"""LARS as solo-learn's ``LARSWrapper`` applies it (``solo/utils/lars.py``), the optimizer of the
dynamic-gating VICReg reference code (KrishnaTarun/Unification, ``--lars --grad_clip_lars
--eta_lars 0.02 --exclude_bias_n_norm``)."""
import torch
from mmengine.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class SoloLARS(torch.optim.SGD):
    """SGD with momentum whose every adapted tensor ``w`` gets the step size

        ``trust = eta * ||w|| / (||g|| + wd * ||w|| + eps)``
        ``lr_w = min(trust, lr)`` with ``clip``, else ``lr * trust``

    and the weight decay folded into the gradient before scaling:
    ``g <- (g + wd * w) * lr_w / lr``; then a plain SGD-momentum step (no further decay).

    Differences from mmselfsup's ``LARS`` (You et al.) that change the step: the trust
    coefficient multiplies ``lr`` only without ``clip``; with ``clip`` the step of a tensor
    never exceeds ``lr``. Excluded tensors (1-D ones with ``exclude_1d``: biases and norm
    parameters; any group with ``lars_exclude=True``) take a plain SGD step **without weight
    decay**, and so does a tensor whose weight or gradient norm is 0 -- solo-learn resets every
    group's decay to 0 around the inner step, so only adapted tensors are ever decayed.

    Args:
        params: parameters or param groups (a group may set ``lr``, ``weight_decay``,
            ``lars_exclude``; mmengine's ``paramwise_cfg.custom_keys`` puts them there).
        lr: learning rate (the schedule's base value).
        momentum, dampening, nesterov: as ``torch.optim.SGD``.
        weight_decay: L2 coefficient, applied to adapted tensors only (see above).
        eta: trust coefficient (0.02 in the reference; solo-learn's default is 1e-3).
        clip: cap each tensor's step size at ``lr`` (``--grad_clip_lars``).
        eps: added to the denominator of the trust ratio.
        exclude_1d: leave 1-D tensors (biases, BN/LN weights) out of the adaptation
            (``--exclude_bias_n_norm``).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, dampening: float = 0.,
                 weight_decay: float = 0., nesterov: bool = False, eta: float = 0.02,
                 clip: bool = True, eps: float = 1e-8, exclude_1d: bool = True):
        if lr <= 0:
            raise ValueError(f'SoloLARS lr={lr!r}: the learning rate must be > 0')
        if eta <= 0:
            raise ValueError(f'SoloLARS eta={eta!r}: the trust coefficient must be > 0')
        if weight_decay < 0:
            raise ValueError(f'SoloLARS weight_decay={weight_decay!r} must be >= 0')
        self.eta, self.clip, self.eps, self.exclude_1d = eta, clip, eps, exclude_1d
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    def is_adapted(self, group: dict, p: torch.Tensor) -> bool:
        """Whether ``p`` (in ``group``) gets the LARS step size and the weight decay."""
        return not group.get('lars_exclude', False) and not (self.exclude_1d and p.ndim == 1)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        decays = []
        for group in self.param_groups:
            wd = group['weight_decay']
            decays.append(wd)
            group['weight_decay'] = 0.  # the inner SGD step decays nothing
            for p in group['params']:
                if p.grad is None or not self.is_adapted(group, p):
                    continue
                w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(p.grad)
                if w_norm == 0 or g_norm == 0:
                    continue
                trust = self.eta * w_norm / (g_norm + w_norm * wd + self.eps)
                scale = torch.clamp(trust / group['lr'], max=1.) if self.clip else trust
                p.grad.add_(p, alpha=wd).mul_(scale)
        try:
            super().step()
        finally:
            for group, wd in zip(self.param_groups, decays):
                group['weight_decay'] = wd
        return loss
