"""Skewed popularity: a few tenants, users and claims get most of the traffic (Zipf's law)."""
from __future__ import annotations

import itertools
import random


class Zipf:
    """Draw ranks 0..n-1 with P(k) proportional to 1 / (k+1)**s; s=0 is uniform."""

    def __init__(self, n: int, s: float, rng: random.Random | None = None):
        if n <= 0:
            raise ValueError("Zipf needs at least one item to draw from")
        self.n = n
        self.rng = rng or random.Random()
        self._cum = list(itertools.accumulate(1.0 / (k + 1) ** s for k in range(n)))

    def rank(self) -> int:
        return self.rng.choices(range(self.n), cum_weights=self._cum)[0]

    def pick(self, items):
        return items[self.rank()]
