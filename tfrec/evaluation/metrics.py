"""Ranking metrics for one user (scalar) and for a batch of users (vectorised).

All metrics use binary relevance: an item is relevant or it is not. Items
are integer indices into the catalogue the ranking was made over.

Scalar functions take one ranked list (best first) and the relevant items;
they are the readable reference definitions. Batch functions compute the
same numbers for ``n`` users at once from an ``[n, k]`` array of top-k
indices and an ``[n, num_items]`` relevance matrix (scipy sparse or dense
boolean); the tests check the two agree. ``metrics_from_ranks`` computes the
same metrics from the 1-based rank of every relevant item, which is what the
full-ranking harness produces.

Definitions (``rel`` = relevant items, ``top_k`` = first ``k`` ranked items):

* recall@k = |top_k ∩ rel| / |rel|;
* ndcg@k = DCG / IDCG with DCG = Σ_{i < k, ranked[i] ∈ rel} 1 / log2(i + 2)
  and IDCG the DCG of a ranking placing min(|rel|, k) relevant items first;
* hit_rate@k = 1 if top_k ∩ rel is non-empty, else 0;
* reciprocal rank = 1 / (1-based position of the first relevant item in the
  whole ranking), 0 if no relevant item is ranked.

recall@k and ndcg@k are undefined (NaN) for a user without relevant items;
hit rate and reciprocal rank are 0. Averages should be taken over users with
at least one relevant item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

__all__ = [
    "recall_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "reciprocal_rank",
    "relevance_hits",
    "batch_recall_at_k",
    "batch_ndcg_at_k",
    "batch_hit_rate_at_k",
    "metrics_from_ranks",
    "as_relevance_csr",
]


# ---------------------------------------------------------------- scalar


def _ranked_array(ranked: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ranked)
    if arr.ndim != 1:
        raise ValueError(f"ranked must be a 1-D list of item indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ranked must hold integer item indices; got dtype {arr.dtype}")
    if len(np.unique(arr)) != len(arr):
        raise ValueError("ranked must not repeat an item; got duplicates")
    return arr.astype(np.int64, copy=False)


def _relevant_set(relevant: Iterable[int] | np.ndarray) -> set[int]:
    values = relevant if isinstance(relevant, np.ndarray) else np.asarray(list(relevant))
    return {int(i) for i in values.ravel()}


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    return int(k)


def _scalar_hits(ranked, relevant, k) -> tuple[np.ndarray, set[int]]:
    k = _check_k(k)
    arr = _ranked_array(ranked)[:k]
    rel = _relevant_set(relevant)
    return np.fromiter((int(i) in rel for i in arr), dtype=bool, count=len(arr)), rel


def recall_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    """|first k of ``ranked`` ∩ ``relevant``| / |``relevant``|; NaN if nothing is relevant.

    A ``ranked`` list shorter than ``k`` is used as it is.
    """
    hits, rel = _scalar_hits(ranked, relevant, k)
    if not rel:
        return float("nan")
    return float(hits.sum()) / len(rel)


def ndcg_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    """Binary-relevance NDCG over the first ``k`` items; IDCG over min(|rel|, k) items.

    NaN if nothing is relevant.
    """
    hits, rel = _scalar_hits(ranked, relevant, k)
    if not rel:
        return float("nan")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(discounts[: len(hits)][hits].sum())
    idcg = float(discounts[: min(len(rel), k)].sum())
    return dcg / idcg


def hit_rate_at_k(ranked: Sequence[int], relevant: Iterable[int], k: int) -> float:
    """1.0 if any of the first ``k`` items is relevant, else 0.0."""
    hits, _ = _scalar_hits(ranked, relevant, k)
    return float(hits.any())


def reciprocal_rank(ranked: Sequence[int], relevant: Iterable[int]) -> float:
    """1 / (1-based position of the first relevant item in ``ranked``); 0.0 if none.

    ``ranked`` should be the whole ranking, not a top-k cut, for this to be MRR.
    """
    arr = _ranked_array(ranked)
    rel = _relevant_set(relevant)
    for position, item in enumerate(arr, start=1):
        if int(item) in rel:
            return 1.0 / position
    return 0.0


# ---------------------------------------------------------------- batch


def as_relevance_csr(relevant, num_rows: int | None = None) -> sp.csr_matrix:
    """Canonical CSR (sorted indices, no duplicates, no stored zeros) of a relevance matrix.

    Accepts a scipy sparse matrix/array or a dense 2-D array (nonzero =
    relevant). Stored entries are the relevant items.
    """
    if sp.issparse(relevant):
        csr = sp.csr_matrix(relevant, copy=True)
    else:
        dense = np.asarray(relevant)
        if dense.ndim != 2:
            raise ValueError(
                f"relevant must be a 2-D [n, num_items] matrix; got shape {dense.shape}"
            )
        csr = sp.csr_matrix(dense != 0)
    if num_rows is not None and csr.shape[0] != num_rows:
        raise ValueError(
            f"relevant has {csr.shape[0]} rows but top_k has {num_rows}; they must match"
        )
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.sort_indices()
    return csr


def _check_top_k(top_k, num_items: int) -> np.ndarray:
    arr = np.asarray(top_k)
    if arr.ndim != 2:
        raise ValueError(f"top_k must be an [n, k] array of item indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"top_k must hold integer item indices; got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_items):
        raise ValueError(
            f"top_k holds indices outside [0, {num_items}) "
            f"(min {arr.min()}, max {arr.max()}); num_items comes from relevant.shape[1]"
        )
    return arr.astype(np.int64, copy=False)


def relevance_hits(top_k: np.ndarray, relevant) -> np.ndarray:
    """Boolean ``[n, k]``: whether ``top_k[u, j]`` is a relevant item of user ``u``.

    Vectorised without densifying ``relevant``: every (user, item) pair is
    encoded as ``user * num_items + item``; CSR with sorted indices lists
    these keys in ascending order, so one ``searchsorted`` answers all
    ``n * k`` membership questions in O(n k log nnz).
    """
    csr = as_relevance_csr(relevant, num_rows=np.shape(top_k)[0] if np.ndim(top_k) == 2 else None)
    num_items = csr.shape[1]
    top = _check_top_k(top_k, num_items)
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    keys = rows * num_items + csr.indices.astype(np.int64)
    queries = np.arange(top.shape[0], dtype=np.int64)[:, None] * num_items + top
    if keys.size == 0:
        return np.zeros(top.shape, dtype=bool)
    pos = np.searchsorted(keys, queries)
    return keys[np.minimum(pos, keys.size - 1)] == queries


def _batch_k(top_k, k: int | None) -> int:
    width = np.shape(top_k)[1]
    if k is None:
        return width
    k = _check_k(k)
    if k > width:
        raise ValueError(f"k={k} exceeds the {width} columns of top_k")
    return k


def _num_relevant(relevant, n: int) -> np.ndarray:
    return np.diff(as_relevance_csr(relevant, num_rows=n).indptr).astype(np.float64)


def batch_recall_at_k(top_k: np.ndarray, relevant, k: int | None = None) -> np.ndarray:
    """Recall@k per user, ``[n]`` float64 (NaN for users without relevant items).

    Args:
      top_k: ``[n, K]`` int item indices, best first, no repeats within a row.
      relevant: ``[n, num_items]`` scipy sparse or dense boolean relevance.
      k: cut-off, at most ``K``; default ``K``.
    """
    k = _batch_k(top_k, k)
    hits = relevance_hits(np.asarray(top_k)[:, :k], relevant)
    n_rel = _num_relevant(relevant, hits.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, hits.sum(axis=1) / n_rel, np.nan)


def batch_ndcg_at_k(top_k: np.ndarray, relevant, k: int | None = None) -> np.ndarray:
    """NDCG@k per user, ``[n]`` float64 (NaN for users without relevant items)."""
    k = _batch_k(top_k, k)
    hits = relevance_hits(np.asarray(top_k)[:, :k], relevant)
    n_rel = _num_relevant(relevant, hits.shape[0]).astype(np.int64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits.astype(np.float64) @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, k)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, dcg / ideal, np.nan)


def batch_hit_rate_at_k(top_k: np.ndarray, relevant, k: int | None = None) -> np.ndarray:
    """HitRate@k per user, ``[n]`` float64 in {0, 1}."""
    k = _batch_k(top_k, k)
    return relevance_hits(np.asarray(top_k)[:, :k], relevant).any(axis=1).astype(np.float64)


def metrics_from_ranks(
    ranks: np.ndarray, rows: np.ndarray, num_users: int, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Recall/NDCG/HitRate@k and reciprocal rank per user from relevant items' ranks.

    Args:
      ranks: ``[E]`` 1-based rank of each relevant item in its user's ranking
        (float; ``inf`` allowed). Ranks above ``max(ks)`` only matter through
        each user's minimum, which must be exact for the reciprocal rank.
      rows: ``[E]`` int user row of each entry, in ``[0, num_users)``.
      num_users: ``n``, the number of users.
      ks: cut-offs.

    Returns:
      ``{"recall@k", "ndcg@k", "hit_rate@k" for k in ks, "rr"}`` -> ``[n]``
      float64 arrays; recall/ndcg are NaN for users without entries.
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    if ranks.shape != rows.shape or ranks.ndim != 1:
        raise ValueError(
            f"ranks and rows must be equal-length 1-D arrays; got {ranks.shape} and {rows.shape}"
        )
    if ranks.size and ranks.min() < 1:
        raise ValueError(f"ranks are 1-based; got a minimum of {ranks.min()}")
    n_rel = np.bincount(rows, minlength=num_users)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        k = _check_k(k)
        hit = ranks <= k
        n_hit = np.bincount(rows, weights=hit, minlength=num_users)
        gains = np.where(hit, 1.0 / np.log2(np.where(hit, ranks, 1.0) + 1.0), 0.0)
        dcg = np.bincount(rows, weights=gains, minlength=num_users)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(n_rel, k)]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"recall@{k}"] = np.where(n_rel > 0, n_hit / n_rel, np.nan)
            out[f"ndcg@{k}"] = np.where(n_rel > 0, dcg / ideal, np.nan)
        out[f"hit_rate@{k}"] = (n_hit > 0).astype(np.float64)
    best = np.full(num_users, np.inf)
    np.minimum.at(best, rows, ranks)
    out["rr"] = np.where(np.isfinite(best), 1.0 / best, 0.0)
    return out
