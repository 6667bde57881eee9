from .cifar import LocalCIFAR10, LocalCIFAR100, read_cifar_batch
from .fashion_mnist import LocalFashionMNIST
from .resumable import ResumableSampler, SampleSeededDataset, sample_seed
from .stl10 import STL10
from .transforms import ColorJitter, RandomGreyJitter, adjust_hue
