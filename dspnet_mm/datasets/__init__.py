from .fashion_mnist import LocalFashionMNIST
from .transforms import RandomGreyJitter
