"""Photometric augmentation for single-channel images."""
import numpy as np
from mmcv.transforms import BaseTransform

from dspnet_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomGreyJitter(BaseTransform):
    """With probability ``prob``, scale brightness by U(1-b, 1+b) and contrast (around the image
    mean) by U(1-c, 1+c), in random order. mmcv's ``ColorJitter`` converts through RGB and
    fails on single-channel images such as Fashion-MNIST.

    Required keys: img (uint8, H x W or H x W x 1). Modified keys: img."""

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, prob: float = 0.8):
        for name, v in (('brightness', brightness), ('contrast', contrast)):
            if not 0 <= v < 1:
                raise ValueError(f'{name} {v} must be in [0, 1)')
        self.brightness, self.contrast, self.prob = brightness, contrast, prob

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        img = results['img'].astype(np.float32)
        ops = [lambda x: x * np.random.uniform(1 - self.brightness, 1 + self.brightness),
               lambda x: (x - x.mean()) * np.random.uniform(1 - self.contrast,
                                                            1 + self.contrast) + x.mean()]
        for i in np.random.permutation(2):
            img = ops[i](img)
        results['img'] = np.clip(img, 0, 255).astype(np.uint8)
        return results
