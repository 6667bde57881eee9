from .fashion_mnist import LocalFashionMNIST
