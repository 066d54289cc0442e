"""Uniformly random scores: the floor every model must clear, in the same harness."""

from __future__ import annotations

import numpy as np


class RandomBaseline:
    """``score(user_ids) -> [b, num_items]`` i.i.d. uniform scores from a seeded generator."""

    def __init__(self, num_items: int, seed: int = 0):
        self.num_items = num_items
        self._rng = np.random.default_rng(seed)

    def score(self, user_ids) -> np.ndarray:
        return self._rng.random((len(user_ids), self.num_items), dtype=np.float32)
