"""Photometric augmentation: grey-image jitter, and mmselfsup's ColorJitter made numpy-2 safe."""
import cv2
import numpy as np
from mmcv.image import adjust_brightness, adjust_color, adjust_contrast
from mmcv.transforms import BaseTransform
from mmselfsup.datasets.transforms import ColorJitter as MMSelfSupColorJitter
from PIL import Image

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


def adjust_hue(img: np.ndarray, hue_factor: float, backend: str = 'pillow') -> np.ndarray:
    """``mmcv.image.adjust_hue`` (mmcv 2.0.1) with the hue shift wrapping around as it did
    under numpy 1: H' = (H + trunc(hue_factor * 255)) mod 256 on the 8-bit hue channel.

    mmcv writes ``np_h += np.uint8(hue_factor * 255)``; numpy 2 refuses to cast a negative
    number to uint8 (``OverflowError: Python integer -14 out of bounds for uint8``), so every
    negative hue factor crashed. Args and result as mmcv's: ``img`` uint8 BGR (H, W, 3),
    ``hue_factor`` in [-0.5, 0.5]."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor {hue_factor} must be in [-0.5, 0.5]')
    shift = np.uint8(int(hue_factor * 255) % 256)  # numpy 1's uint8 wrap-around, explicitly
    if backend == 'pillow':
        if img.dtype != np.uint8:
            raise TypeError(f'the pillow backend needs a uint8 image, got {img.dtype}')
        pil_image = Image.fromarray(np.ascontiguousarray(img[..., ::-1]), mode='RGB')
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 addition wraps around the hue circle
        pil_image = Image.merge('HSV', (Image.fromarray(np_h, 'L'), s, v)).convert('RGB')
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    if backend != 'cv2':
        raise ValueError(f"backend {backend!r} is not supported; use 'pillow' or 'cv2'")
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)  # 8-bit hue, 0..255
    h, s, v = cv2.split(hsv)
    h += shift  # uint8 addition wraps around the hue circle
    return cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR_FULL).astype(img.dtype)


@TRANSFORMS.register_module(name='ColorJitter', force=True)
class ColorJitter(MMSelfSupColorJitter):
    """mmselfsup's ``ColorJitter`` (same arguments, same random draws, same result under
    numpy 1), with the hue shift of :func:`adjust_hue`, which numpy 2 does not break.

    Registered under mmselfsup's own name, so every config that writes
    ``type='ColorJitter'`` (ours, and mmselfsup's BYOL/SimCLR/... bases) gets it once
    ``dspnet_mm`` is imported."""

    def transform(self, results: dict) -> dict:
        b, c, s, h, order = self.get_params(self.brightness, self.contrast, self.saturation,
                                            self.hue)
        img = results['img'].astype('uint8')
        for fn_id in order:
            if fn_id == 0 and b is not None:
                img = adjust_brightness(img, b, backend=self.backend)
            elif fn_id == 1 and c is not None:
                img = adjust_contrast(img, c, backend=self.backend)
            elif fn_id == 2 and s is not None:
                img = adjust_color(img, s, backend=self.backend)
            elif fn_id == 3 and h is not None:
                img = adjust_hue(img, h, backend=self.backend)
        results['img'] = img
        return results
