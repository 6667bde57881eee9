from .vicreg_head import VICRegHead

__all__ = ['VICRegHead']
