"""Most-popular baseline: every user gets the same scores, the items' training counts.

It is the floor any personalised model must beat under full ranking, and a
check on the harness: with seen items excluded, it recommends each user the
most popular items they have not interacted with yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tfrec.models.catalogue import catalogue_index

__all__ = ["PopularityBaseline"]


class PopularityBaseline:
    """Scores item j by the number of training interactions with it (log1p by default).

    Usage::

        model = PopularityBaseline(item_ids).fit(split.train)
        evaluate(model.score, eval_set)   # or evaluate(model, eval_set)

    Args:
      item_ids: the catalogue index to score over (position = column), the
        same ``item_ids`` the evaluation set was built with; unique.
      log: score with ``log1p(count)`` instead of the raw count. The ranking
        is identical; log scores are on a scale comparable to model logits.

    Attributes (after :meth:`fit`):
      counts: ``[num_items]`` int64 interactions per item (0 if never seen).
      unknown_items: training interactions whose item is not in ``item_ids``
        (ignored).
    """

    def __init__(self, item_ids: Sequence[str], log: bool = True):
        self.item_ids = catalogue_index(item_ids)
        self.log = bool(log)
        self.counts: np.ndarray | None = None
        self.unknown_items = 0
        self._row: np.ndarray | None = None

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def fit(self, interactions: pd.DataFrame) -> "PopularityBaseline":
        """Counts interactions per item in ``interactions`` (needs an ``item_id`` column).

        Every row counts once (repeat interactions count again), ratings are
        ignored: popularity is how often an item is interacted with.
        """
        if not isinstance(interactions, pd.DataFrame) or "item_id" not in interactions.columns:
            got = list(interactions.columns) if isinstance(interactions, pd.DataFrame) else type(interactions).__name__
            raise ValueError(f"interactions must be a DataFrame with an item_id column; got {got}")
        return self.fit_counts(interactions["item_id"].astype(str).value_counts())

    def fit_counts(self, item_counts: pd.Series) -> "PopularityBaseline":
        """The same from interactions already counted per item (id → count): what a data set streamed
        from shards has."""
        codes = self.item_ids.get_indexer(item_counts.index.to_numpy(dtype=object).astype(str))
        values = item_counts.to_numpy(np.int64)
        known = codes >= 0
        self.unknown_items = int(values[~known].sum())
        self.counts = np.bincount(codes[known], weights=values[known], minlength=self.num_items).astype(np.int64)
        row = np.log1p(self.counts) if self.log else self.counts
        self._row = row.astype(np.float32)
        self._row.flags.writeable = False
        return self

    def score(self, user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """``[len(user_ids), num_items]`` float32, the same popularity row for every user.

        Returned as a read-only broadcast view (no ``b x num_items`` copy, which
        is 1 GB for 256 users x 1M items); copy it before writing.
        """
        if self._row is None:
            raise ValueError("PopularityBaseline.score called before fit()")
        b = len(np.atleast_1d(np.asarray(user_ids, dtype=object)))
        return np.broadcast_to(self._row, (b, self.num_items))

    __call__ = score
