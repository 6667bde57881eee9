from .slimmable_neck import SlimmableNonLinearNeck

__all__ = ['SlimmableNonLinearNeck']
