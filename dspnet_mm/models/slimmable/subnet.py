"""Sub-network specifications of a slimmable ResNet and their channel arithmetic."""
from dataclasses import dataclass
from typing import Dict, Mapping, Sequence, Tuple, Union

NUM_STAGES = 4


def make_divisible(value: float, divisor: int = 8, min_value: int = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``min_value``),
    never dropping more than 10% (MobileNet/US-Nets convention)."""
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


@dataclass(frozen=True)
class SubnetSpec:
    """A sub-network of a slimmable ResNet: a width multiplier and a block count per stage.

    Args:
        widths: four floats in (0, 1], one per stage (the stem follows stage 1).
        depths: four ints, the number of leading blocks kept in each stage.
    """
    widths: Tuple[float, float, float, float]
    depths: Tuple[int, int, int, int]

    @classmethod
    def create(cls, value: Union['SubnetSpec', Mapping], max_depths: Sequence[int],
               name: str = None) -> 'SubnetSpec':
        """Build and validate a spec from a dict ``dict(widths=..., depths=...)`` or a spec.

        ``widths`` may be one float for all stages; ``depths`` defaults to ``max_depths``.
        Raises ``ValueError`` naming the bad value and what is allowed.
        """
        where = f'subnet {name!r}' if name else 'subnet spec'
        if isinstance(value, SubnetSpec):
            widths, depths = value.widths, value.depths
        elif isinstance(value, Mapping):
            unknown = set(value) - {'widths', 'depths'}
            if unknown:
                raise ValueError(f'{where}: unknown keys {sorted(unknown)}; '
                                 "allowed keys are 'widths' and 'depths'")
            widths = value.get('widths', 1.0)
            depths = value.get('depths', tuple(max_depths))
        else:
            raise TypeError(f'{where}: expected a dict(widths=..., depths=...) or a '
                            f'SubnetSpec, got {type(value).__name__}: {value!r}')
        if isinstance(widths, (int, float)):
            widths = (widths, ) * NUM_STAGES
        widths, depths = tuple(widths), tuple(depths)
        if len(widths) != NUM_STAGES:
            raise ValueError(f'{where}: widths {widths} must be one float or '
                             f'{NUM_STAGES} floats (one per stage)')
        if len(depths) != NUM_STAGES:
            raise ValueError(f'{where}: depths {depths} must have {NUM_STAGES} ints '
                             '(blocks kept per stage)')
        for w in widths:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w <= 1:
                raise ValueError(f'{where}: width {w!r} in {widths} is outside (0, 1]')
        for i, (d, dmax) in enumerate(zip(depths, max_depths)):
            if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= dmax:
                raise ValueError(f'{where}: depth {d!r} of stage {i + 1} is outside '
                                 f'1..{dmax} (the supernet has depths {tuple(max_depths)})')
        return cls(tuple(float(w) for w in widths), tuple(int(d) for d in depths))

    def to_dict(self) -> Dict:
        return dict(widths=list(self.widths), depths=list(self.depths))

    def is_uniform(self) -> bool:
        return len(set(self.widths)) == 1


@dataclass(frozen=True)
class ResNetChannels:
    """Channel counts of one ResNet shape: the stem and (mid, out) per stage."""
    stem: int
    stages: Tuple[Tuple[int, int], ...]


def resnet_channels(spec: SubnetSpec, stem_channels: int = 64, base_channels: int = 64,
                    expansion: int = 4, divisor: int = 8) -> ResNetChannels:
    """Channels of a sub-network: stage i keeps the first ``make_divisible(base * 2**i * w_i)``
    middle channels and ``expansion`` times that many output channels (prefix slicing)."""
    stages = []
    for i, w in enumerate(spec.widths):
        full_mid = base_channels * 2**i
        mid = full_mid if w == 1.0 else min(full_mid, make_divisible(full_mid * w, divisor))
        stages.append((mid, mid * expansion))
    stem = stem_channels if spec.widths[0] == 1.0 else min(
        stem_channels, make_divisible(stem_channels * spec.widths[0], divisor))
    return ResNetChannels(stem, tuple(stages))
