from .sparsity_loss import SparsityLoss, density_bound_loss, flops_budget_loss
from .vicreg_loss import VICRegLoss, covariance_term, variance_term

__all__ = ['SparsityLoss', 'density_bound_loss', 'flops_budget_loss', 'VICRegLoss',
           'covariance_term', 'variance_term']
