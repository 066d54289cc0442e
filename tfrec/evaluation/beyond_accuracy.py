"""Beyond-accuracy metrics of top-K lists: novelty, popularity lift and intra-list diversity.

Accuracy says whether the held-out items were found; these say what kind of
lists a model makes, on the same top-K lists the accuracy metrics rank:

* ``novelty@k`` (Zhou et al., "Solving the apparent diversity-accuracy
  dilemma of recommender systems", PNAS 2010; Vargas & Castells, RecSys
  2011): the mean self-information ``-log2 p_i`` of the recommended items,
  ``p_i`` = the item's share of the training interactions
  (``count_i / sum(count)``), averaged over each user's list, then over
  users. An item never seen in training counts as seen once, so the value
  stays finite. Higher = less obvious items.
* ``popularity_lift@k``: ``GAP_r / GAP_p`` with the Group Average
  Popularity of Abdollahpouri, Mansoury, Burke & Mobasher ("The Unfairness
  of Popularity Bias in Recommendation", RMSE workshop, RecSys 2019):
  ``GAP_r`` = mean over users of the mean popularity of their recommended
  items, ``GAP_p`` = mean over the same users of the mean popularity of the
  items in their history (the seen items). The paper's
  ``Delta GAP = (GAP_r - GAP_p) / GAP_p`` is ``lift - 1``. A ratio does
  not depend on how popularity is normalised; here it is the training
  interaction count (the paper counts distinct users; with repeats the two
  differ). 1 = lists as popular as what users already consume; above 1 =
  the model amplifies popularity. Users without history are left out of
  both means. :func:`mean_popularity` and :func:`history_popularity` give
  the per-user terms; the harness (``full_ranking.evaluate``) averages them.
* ``diversity@k`` (intra-list diversity, Ziegler et al., "Improving
  recommendation lists through topic diversification", WWW 2005, with a
  category distance): the mean over the pairs of a user's top-K of the
  Jaccard distance ``1 - |A ∩ B| / |A ∪ B|`` between the two items'
  category sets, averaged over users. With one category per item this is
  the share of pairs whose categories differ. Items without a category
  are left out of the pairs; a user with fewer than two categorised items
  has no value.

Every function takes ``top_k`` ``[n, k]`` item indices and ``valid`` ``[n,
k]`` bool (False for entries not to count, e.g. seen items that filled a
list when the user had fewer than ``k`` unseen items) and returns ``[n]``
float64 per-user values, NaN where a user has nothing to average.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["ItemProperties", "novelty", "mean_popularity", "history_popularity", "intra_list_diversity"]

# Elements of the largest temporary of intra_list_diversity (gathered category rows, pair matrices).
_WORKSPACE = 1 << 22


@dataclasses.dataclass
class ItemProperties:
    """What the beyond-accuracy metrics need of the catalogue ranked over.

    Attributes:
      counts: ``[num_items]`` training interactions per item (column order).
      categories: ``[num_items, num_categories]`` binary CSR, each item's
        categories, or None when the data has no item category.
      category: the item column the categories come from (None without one).
    """

    counts: np.ndarray
    categories: sp.csr_matrix | None = None
    category: str | None = None

    def __post_init__(self):
        self.counts = np.asarray(self.counts, dtype=np.float64)
        if self.counts.ndim != 1 or (self.counts < 0).any():
            raise ValueError(f"counts must be a 1-D array of non-negative counts; got shape {self.counts.shape}")
        if self.categories is not None:
            self.categories = sp.csr_matrix(self.categories, dtype=np.float32)
            if self.categories.shape[0] != len(self.counts):
                raise ValueError(f"categories has {self.categories.shape[0]} rows for {len(self.counts)} items")

    @classmethod
    def from_catalogue(cls, item_ids, item_counts: pd.Series, items: pd.DataFrame,
                       category: str | None) -> "ItemProperties":
        """From training counts (item id → count) and the item table's ``category`` column
        (``|``-joined values, the data sets' categorical format; None for no categories)."""
        ids = pd.Index(np.asarray(item_ids, dtype=object).astype(str))
        counts = item_counts.groupby(item_counts.index.astype(str)).sum().reindex(ids, fill_value=0)
        if category is None:
            return cls(counts.to_numpy(np.float64))
        values = items.set_index(items.item_id.astype(str))[category].reindex(ids).fillna("").astype(str)
        pairs = values.str.split("|").explode().str.strip()
        pairs = pairs[pairs != ""]
        rows = ids.get_indexer(pairs.index)
        codes, _ = pd.factorize(pairs.to_numpy(object))
        matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, codes)),
                               shape=(len(ids), max(int(codes.max()) + 1 if len(codes) else 0, 1)))
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        return cls(counts.to_numpy(np.float64), matrix, category)


def _row_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    n_valid = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_valid > 0, np.where(valid, values, 0.0).sum(axis=1) / n_valid, np.nan)


def novelty(top_k: np.ndarray, valid: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-user mean of ``-log2(max(count_i, 1) / sum(count))`` over the valid entries of ``top_k``."""
    counts = np.asarray(counts, dtype=np.float64)
    information = -np.log2(np.maximum(counts, 1.0) / max(counts.sum(), 1.0))
    return _row_mean(information[top_k], valid)


def mean_popularity(top_k: np.ndarray, valid: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-user mean training count of the valid recommended items."""
    return _row_mean(np.asarray(counts, dtype=np.float64)[top_k], valid)


def history_popularity(history: sp.csr_matrix, counts: np.ndarray) -> np.ndarray:
    """Per-user mean training count of the items in each row of ``history`` (``[n, num_items]``
    binary CSR); NaN for an empty row."""
    history = sp.csr_matrix(history, dtype=bool)
    sizes = np.diff(history.indptr)
    totals = history.astype(np.float64) @ np.asarray(counts, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, totals / sizes, np.nan)


def intra_list_diversity(top_k: np.ndarray, valid: np.ndarray, categories: sp.csr_matrix) -> np.ndarray:
    """Per-user mean Jaccard distance of the category sets over the pairs of valid, categorised items."""
    top_k = np.asarray(top_k)
    n, k = top_k.shape
    categories = sp.csr_matrix(categories, dtype=np.float32)
    out = np.full(n, np.nan)
    if k < 2:
        return out
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    rows_per_chunk = max(1, _WORKSPACE // (k * max(k, categories.shape[1])))
    for lo in range(0, n, rows_per_chunk):
        hi = min(lo + rows_per_chunk, n)
        sets = categories[top_k[lo:hi].ravel()].toarray().reshape(hi - lo, k, -1)
        sizes = sets.sum(axis=2)
        usable = valid[lo:hi] & (sizes > 0)
        common = np.einsum("ukc,ulc->ukl", sets, sets)
        union = sizes[:, :, None] + sizes[:, None, :] - common
        pairs = usable[:, :, None] & usable[:, None, :] & upper
        with np.errstate(invalid="ignore", divide="ignore"):
            distance = np.where(pairs, 1.0 - common / np.where(pairs, union, 1.0), 0.0)
            n_pairs = pairs.sum(axis=(1, 2))
            out[lo:hi] = np.where(n_pairs > 0, distance.sum(axis=(1, 2)) / n_pairs, np.nan)
    return out
