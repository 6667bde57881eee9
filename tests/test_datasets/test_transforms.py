"""The numpy-2-safe hue shift behaves as mmcv's did under numpy 1 (a wrap-around shift)."""
import math

import cv2
import numpy as np
import pytest
from mmcv.image import adjust_hue as mmcv_adjust_hue
from mmengine.registry import DefaultScope
from mmselfsup.registry import TRANSFORMS
from PIL import Image

import dspnet_mm  # noqa: F401
from dspnet_mm.datasets import ColorJitter, adjust_hue
from dspnet_mm.testing import random_rgb


def numpy1_hue_shift(img_bgr, hue_factor):
    """Reference: mmcv 2.0.1's pillow path as numpy 1 executed it. ``np.uint8(f * 255)``
    truncated towards zero and wrapped modulo 256, the uint8 addition wrapped too, so the
    8-bit hue becomes (H + trunc(255 f)) mod 256; written here with Python integers."""
    hsv = np.array(Image.fromarray(img_bgr[..., ::-1].copy(), 'RGB').convert('HSV'))
    h = (hsv[..., 0].astype(np.int64) + math.trunc(hue_factor * 255)) % 256
    hsv[..., 0] = h.astype(np.uint8)
    return np.array(Image.fromarray(hsv, 'HSV').convert('RGB'))[..., ::-1]


IMAGES = [random_rgb(np.random.default_rng(s), 37, 53) for s in range(3)]
FACTORS = [-0.5, -0.1, -0.057, -0.001, 0.0, 0.003, 0.1, 0.42, 0.5]


@pytest.mark.parametrize('factor', FACTORS)
def test_hue_shift_equals_numpy1_semantics(factor):
    for img in IMAGES:
        out = adjust_hue(img, factor)
        assert out.dtype == np.uint8 and out.shape == img.shape
        np.testing.assert_array_equal(out, numpy1_hue_shift(img, factor))


@pytest.mark.parametrize('factor', [f for f in FACTORS if f >= 0])
def test_hue_shift_equals_mmcv_where_numpy2_does_not_break_it(factor):
    for img in IMAGES:
        np.testing.assert_array_equal(adjust_hue(img, factor),
                                      mmcv_adjust_hue(img, factor, backend='pillow'))


def test_negative_hue_wraps_around_the_colour_circle():
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 2] = 255  # BGR
    shifted = adjust_hue(red, -0.1)  # hue 0 -> 256 - 25 = 231: towards magenta, not clipped
    b, g, r = (int(c) for c in shifted[0, 0])
    assert r == 255 and g == 0 and 100 < b < 255
    assert (adjust_hue(red, 0.1)[0, 0] == [0, 150, 255]).all()  # towards orange: +25 of 256


def test_hue_factor_outside_range_is_refused():
    with pytest.raises(ValueError, match=r'hue_factor 0.6 must be in \[-0.5, 0.5\]'):
        adjust_hue(IMAGES[0], 0.6)


def test_configs_get_the_fixed_color_jitter_by_its_name():
    # plain name in mmselfsup's scope, and the _scope_ an inherited mmselfsup:: base carries
    with DefaultScope.overwrite_default_scope('mmselfsup'):
        for cfg in (dict(type='ColorJitter', hue=0.1),
                    dict(type='ColorJitter', hue=0.1, _scope_='mmselfsup')):
            assert type(TRANSFORMS.build(cfg)) is ColorJitter
    # a fixed negative hue factor, nothing else jittered: exactly the reference shift
    jitter = ColorJitter(hue=(-0.2, -0.2))
    for img in IMAGES:
        out = jitter.transform(dict(img=img.copy()))['img']
        np.testing.assert_array_equal(out, numpy1_hue_shift(img, -0.2))


def test_cv2_backend_equals_mmcv_where_numpy2_does_not_break_it():
    for img in IMAGES:
        for factor in (0.0, 0.1, 0.5):
            np.testing.assert_array_equal(adjust_hue(img, factor, backend='cv2'),
                                          mmcv_adjust_hue(img, factor, backend='cv2'))
        # mmcv raises here under numpy 2; numpy 1 wrapped: (H + trunc(255 f)) mod 256
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int64) + math.trunc(-0.1 * 255)) % 256)
        np.testing.assert_array_equal(adjust_hue(img, -0.1, backend='cv2'),
                                      cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL))
