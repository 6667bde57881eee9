"""Which sub-networks a DSPNet iteration trains (the sandwich rule of US-Nets)."""
import random
from typing import List, Sequence

from mmengine.logging import MessageHub

from ..slimmable.subnet import SubnetSpec


class SandwichSampler:
    """Per iteration: the largest DN, the smallest DN and ``num_random`` others.

    The draw depends only on ``(seed, iteration)``, so every DDP rank samples the same
    sub-networks and a resumed run samples exactly what the uninterrupted run would have.

    Args:
        names: desired networks, ordered from largest to smallest (by FLOPs).
        num_random: extra sub-networks per iteration.
        space: 'dn' draws the extra ones from the DN set (without replacement), 'continuous'
            draws arbitrary specs (widths uniform in [min_width, 1], depths uniform).
        max_depths: the supernet's blocks per stage (for 'continuous').
    """

    def __init__(self, names: Sequence[str], num_random: int = 2, space: str = 'dn',
                 max_depths: Sequence[int] = (), min_width: float = 0.25, seed: int = 0):
        if space not in ('dn', 'continuous'):
            raise ValueError(f"sample space {space!r} must be 'dn' or 'continuous'")
        if not names:
            raise ValueError('DSPNet needs at least one desired network (backbone.subnets)')
        if num_random < 0:
            raise ValueError(f'num_random {num_random} must be >= 0')
        self.names, self.num_random, self.space = list(names), num_random, space
        self.max_depths, self.min_width, self.seed = tuple(max_depths), min_width, seed
        self._fallback_step = 0

    def _iteration(self) -> int:
        hub = MessageHub.get_current_instance()
        it = hub.runtime_info.get('iter')
        if it is None:  # outside a Runner
            it, self._fallback_step = self._fallback_step, self._fallback_step + 1
        return int(it)

    def sample(self) -> List:
        rng = random.Random(self.seed * 1_000_003 + self._iteration())
        largest, smallest = self.names[0], self.names[-1]
        picked = [largest] + ([smallest] if smallest != largest else [])
        if self.space == 'dn':
            rest = [n for n in self.names if n not in picked]
            picked += rng.sample(rest, min(self.num_random, len(rest)))
        else:
            for _ in range(self.num_random):
                picked.append(SubnetSpec(
                    tuple(rng.uniform(self.min_width, 1.0) for _ in range(4)),
                    tuple(rng.randint(1, d) for d in self.max_depths)))
        return picked
