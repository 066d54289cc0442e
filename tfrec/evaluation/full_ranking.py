"""Full-ranking evaluation: every user is ranked against the whole catalogue.

No negative sampling: a model's ``score_fn`` scores *all* items for a batch
of users, items the user already interacted with ("seen": train plus
validation when evaluating on test) are excluded, and the held-out target
items are the relevant ones. Sampled metrics are known to reorder models,
so this is the protocol every model in the project is compared with.

Ties are counted pessimistically: a relevant item is ranked after every
non-seen item with an equal score (and after the other relevant items it
ties with, in item-index order). A model giving all items the same score
therefore ranks its relevant items last instead of being rewarded by the
arbitrary order of a sort. Recall/NDCG/HitRate@k and MRR all use these
ranks. Only ``coverage@k`` uses the top-k list as ``np.argpartition`` + sort
produce it, with ties in an arbitrary but deterministic order.

Memory: ``score_fn`` returns ``[batch_size, num_items]`` scores (4 bytes
each in float32), which dominates: 256 users x 1M items = 1 GB. The harness
itself works on row chunks of at most ``WORKSPACE_ELEMENTS`` scores at a
time (a masked copy, ``argpartition`` indices, comparison masks: about
13 bytes per element, ~55 MB), so pick ``batch_size`` ~ memory budget /
(4 * num_items), e.g. 128-256 for 1M items, 512+ for 100K items.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tfrec.errors import DataError
from tfrec.evaluation import beyond_accuracy
from tfrec.evaluation.beyond_accuracy import ItemProperties
from tfrec.evaluation.metrics import as_relevance_csr, metrics_from_ranks, relevance_hits

__all__ = ["EvaluationSet", "evaluate", "format_table", "save_json", "WORKSPACE_ELEMENTS"]

# Scores processed at once inside one batch; bounds the harness's own memory.
WORKSPACE_ELEMENTS = 1 << 22

ScoreFn = Callable[[np.ndarray], np.ndarray]


class NothingToRank(DataError, ValueError):
    """No target user has an item left to find (no targets, or all of them seen or unknown)."""


@dataclasses.dataclass
class EvaluationSet:
    """Who is evaluated, what they already saw and what they should be recommended.

    Rows are the evaluated users, columns the catalogue ``item_ids``
    (column j = ``item_ids[j]``, the same index space the model scores in).

    Attributes:
      user_ids: ``[n]`` object array of str, the evaluated users: every target
        user with at least one rankable relevant item, known users first in
        ``user_ids`` order, then unknown (cold) users sorted by id. Unknown
        users are kept: ``score_fn`` receives string ids and decides how to
        score them (e.g. an OOV embedding).
      item_ids: ``[num_items]`` object array of str.
      user_index: ``[n]`` int64 position of each user in the ``user_ids``
        index given to :meth:`from_frames`, or -1 for unknown users.
      seen: ``[n, num_items]`` bool CSR, items excluded from the ranking.
      target: ``[n, num_items]`` bool CSR, relevant items; disjoint from
        ``seen`` and non-empty in every row.
      counts: what :meth:`from_frames` kept and dropped (see there).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_index: np.ndarray
    seen: sp.csr_matrix
    target: sp.csr_matrix
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n, num_items = len(self.user_ids), len(self.item_ids)
        for name in ("seen", "target"):
            shape = getattr(self, name).shape
            if shape != (n, num_items):
                raise ValueError(
                    f"{name} has shape {shape}; expected (users, items) = ({n}, {num_items})"
                )
        if len(self.user_index) != n:
            raise ValueError(f"user_index has {len(self.user_index)} entries for {n} users")
        self.user_ids = np.asarray(self.user_ids, dtype=object)
        self.item_ids = np.asarray(self.item_ids, dtype=object)
        self.user_index = np.asarray(self.user_index, dtype=np.int64)
        self.seen = as_relevance_csr(self.seen).astype(bool)
        self.target = as_relevance_csr(self.target).astype(bool)
        empty = np.flatnonzero(np.diff(self.target.indptr) == 0)
        if empty.size:
            raise ValueError(
                f"{empty.size} user(s) have no relevant item, e.g. {list(self.user_ids[empty[:3]])}; "
                "every evaluated user needs one (from_frames drops such users)"
            )
        overlap = self.target.multiply(self.seen).nnz
        if overlap:
            raise ValueError(
                f"{overlap} relevant (user, item) pair(s) are also seen; seen items are "
                "excluded from the ranking, so targets must be disjoint from seen"
            )

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def summary(self) -> str:
        """One line: evaluated users, relevant pairs and what was dropped."""
        c = self.counts
        return (
            f"{self.num_users:,} users ({c.get('unknown_users', 0):,} unknown to the user index) "
            f"x {self.num_items:,} items; {self.target.nnz:,} relevant pairs, "
            f"{self.seen.nnz:,} seen pairs excluded; dropped {c.get('unknown_target_items', 0):,} "
            f"target pairs with unknown items, {c.get('seen_target_items', 0):,} already seen, "
            f"{c.get('users_without_relevant', 0):,} users left without relevant items"
        )

    @classmethod
    def from_frames(
        cls,
        seen: pd.DataFrame,
        target: pd.DataFrame,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
    ) -> "EvaluationSet":
        """Builds the evaluation set from interaction frames.

        Args:
          seen: interactions before the target period (train + validation
            when evaluating on test); needs ``user_id`` and ``item_id``.
          target: held-out interactions; each (user, item) pair is relevant.
          user_ids: the model's user index (position = index); users outside
            it are still evaluated and counted as ``unknown_users``.
          item_ids: the catalogue ranked over (position = column); unique.

        Dropped and counted in ``counts``:
          * ``unknown_target_items``: distinct target (user, item) pairs whose
            item is not in ``item_ids`` (no model could rank it);
          * ``seen_target_items``: target pairs also in ``seen`` (repeats), as
            seen items are excluded from the ranking and could never be hit;
          * ``users_without_relevant``: target users left with no relevant
            item after the two drops above; they are not evaluated;
          * ``unknown_seen_items``: seen pairs whose item is not in
            ``item_ids`` (nothing to exclude).
          Also reported: ``target_users``, ``unknown_users`` (kept),
          ``users`` (evaluated).

        Raises:
          ValueError: on missing columns, duplicated or empty id indexes, or
            when no target user has a relevant item left.
        """
        for name, frame in (("seen", seen), ("target", target)):
            missing = [c for c in ("user_id", "item_id") if c not in frame.columns]
            if missing:
                raise ValueError(
                    f"{name} frame is missing column(s) {missing}; it has {list(frame.columns)}"
                )
        items = _unique_index(item_ids, "item_ids")
        users = _unique_index(user_ids, "user_ids")
        if len(items) == 0:
            raise ValueError("item_ids is empty; there is no catalogue to rank")
        num_items = len(items)

        t_users = _as_str(target["user_id"])
        t_items = items.get_indexer(_as_str(target["item_id"]))
        pairs = pd.DataFrame({"user": t_users, "item": t_items}).drop_duplicates()
        known_item = pairs["item"].to_numpy() >= 0
        target_users = pairs["user"].nunique()
        unknown_target_items = int((~known_item).sum())
        pairs = pairs[known_item]

        s_users = _as_str(seen["user_id"])
        s_items = items.get_indexer(_as_str(seen["item_id"]))
        seen_pairs = pd.DataFrame({"user": s_users, "item": s_items}).drop_duplicates()
        unknown_seen_items = int((seen_pairs["item"].to_numpy() < 0).sum())
        seen_pairs = seen_pairs[seen_pairs["item"].to_numpy() >= 0]

        # Target pairs the user already saw can never be recommended: drop them.
        repeat = pd.MultiIndex.from_frame(pairs).isin(pd.MultiIndex.from_frame(seen_pairs))
        seen_target_items = int(repeat.sum())
        pairs = pairs[~repeat]

        eval_users = pd.unique(pairs["user"].to_numpy())
        if len(eval_users) == 0:
            raise NothingToRank(
                f"no target user has a relevant item left ({len(target)} target rows, "
                f"{unknown_target_items} pairs with unknown items, "
                f"{seen_target_items} pairs already seen)"
            )
        position = users.get_indexer(eval_users).astype(np.int64)
        known = position >= 0
        order = np.concatenate(
            [
                np.flatnonzero(known)[np.argsort(position[known], kind="stable")],
                np.flatnonzero(~known)[np.argsort(eval_users[~known].astype(str), kind="stable")],
            ]
        )
        eval_users = eval_users[order].astype(object)
        position = position[order]
        row_of = pd.Index(eval_users)
        n = len(eval_users)

        def to_csr(frame: pd.DataFrame) -> sp.csr_matrix:
            rows = row_of.get_indexer(frame["user"].to_numpy())
            keep = rows >= 0
            matrix = sp.csr_matrix(
                (
                    np.ones(int(keep.sum()), dtype=bool),
                    (rows[keep], frame["item"].to_numpy()[keep].astype(np.int64)),
                ),
                shape=(n, num_items),
            )
            matrix.sum_duplicates()
            matrix.sort_indices()
            return matrix

        counts = {
            "target_users": int(target_users),
            "users": int(n),
            "unknown_users": int((~known).sum()),
            "users_without_relevant": int(target_users - n),
            "unknown_target_items": unknown_target_items,
            "seen_target_items": seen_target_items,
            "unknown_seen_items": unknown_seen_items,
        }
        return cls(
            user_ids=eval_users,
            item_ids=np.asarray(items, dtype=object),
            user_index=position,
            seen=to_csr(seen_pairs),
            target=to_csr(pairs),
            counts=counts,
        )


def _as_str(column: pd.Series) -> np.ndarray:
    return column.astype(str).to_numpy(dtype=object)


def _unique_index(ids: Sequence[str], name: str) -> pd.Index:
    values = np.asarray(list(ids), dtype=object).astype(str).astype(object)
    index = pd.Index(values, dtype=object)
    if not index.is_unique:
        dup = index[index.duplicated()].unique()
        raise ValueError(f"{name} must be unique; got {len(dup)} duplicated id(s), e.g. {list(dup[:3])}")
    return index


def evaluate(
    score_fn: ScoreFn,
    eval_set: EvaluationSet,
    ks: Sequence[int] = (10, 20),
    batch_size: int = 512,
    items: ItemProperties | None = None,
) -> dict[str, float]:
    """Full-ranking Recall/NDCG/HitRate@k, MRR, catalogue coverage@k and, given ``items``,
    novelty@k, popularity_lift@k and diversity@k (see :mod:`tfrec.evaluation.beyond_accuracy`).

    Args:
      score_fn: ``score_fn(user_ids)`` with ``user_ids`` a ``[b]`` object
        array of str returns ``[b, num_items]`` float scores over
        ``eval_set.item_ids`` (higher = better). NaN is rejected; ``-inf`` is
        allowed. The returned array is only read, never written, so a
        read-only or broadcast view is fine.
      eval_set: see :class:`EvaluationSet`.
      ks: positive cut-offs.
      batch_size: users per ``score_fn`` call; see the module docstring for
        sizing (the score matrix dominates memory).
      items: training counts (and categories) of ``eval_set.item_ids``, for
        the beyond-accuracy metrics; without it they are not computed, and
        ``diversity@k`` needs categories.

    Returns:
      ``recall@k``, ``ndcg@k``, ``hit_rate@k``, ``coverage@k`` for each k,
      ``mrr`` (all floats, user averages over ``eval_set``'s users, each of
      whom has at least one relevant item) and ``users`` (int, the count).
      ``coverage@k`` is the fraction of the catalogue in at least one user's
      top-k (seen items never count as recommended). The beyond-accuracy
      metrics are computed on the same top-k lists, seen items left out.
    """
    if not isinstance(eval_set, EvaluationSet):
        raise ValueError(f"eval_set must be an EvaluationSet; got {type(eval_set).__name__}")
    ks = _check_ks(ks)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    n, num_items = eval_set.num_users, eval_set.num_items
    chunk_rows = max(1, WORKSPACE_ELEMENTS // num_items)

    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "hit_rate")}
    sums["rr"] = 0.0
    covered = {k: np.zeros(num_items, dtype=bool) for k in ks}
    if items is not None and len(items.counts) != num_items:
        raise ValueError(f"items describes {len(items.counts)} items; eval_set ranks {num_items}")
    beyond = _BeyondAccuracySums(items, ks)

    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        batch_users = eval_set.user_ids[start:stop]
        scores = np.asarray(score_fn(batch_users))
        if scores.shape != (stop - start, num_items):
            raise ValueError(
                f"score_fn returned shape {scores.shape} for {stop - start} users; expected "
                f"({stop - start}, {num_items}) = (users, items in eval_set.item_ids)"
            )
        if not (np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)):
            raise ValueError(f"score_fn must return numeric scores; got dtype {scores.dtype}")
        for lo in range(0, stop - start, chunk_rows):
            hi = min(lo + chunk_rows, stop - start)
            rows = slice(start + lo, start + hi)
            per_user, top = _rank_chunk(
                scores[lo:hi], eval_set.seen[rows], eval_set.target[rows], ks, batch_users[lo:hi]
            )
            for key in sums:
                sums[key] += float(per_user[key].sum())
            seen_in_top = relevance_hits(top, eval_set.seen[rows])
            for k in ks:
                covered[k][top[:, :k][~seen_in_top[:, :k]]] = True
            beyond.add(top, ~seen_in_top, eval_set.seen[rows])
        del scores

    results: dict[str, float] = {}
    for k in ks:
        for m in ("recall", "ndcg", "hit_rate"):
            results[f"{m}@{k}"] = sums[f"{m}@{k}"] / n
    results["mrr"] = sums["rr"] / n
    for k in ks:
        results[f"coverage@{k}"] = float(covered[k].mean())
    results.update(beyond.results())
    results["users"] = n
    return results


class _BeyondAccuracySums:
    """Running sums of the beyond-accuracy metrics over the evaluated users (nothing without items)."""

    def __init__(self, items: ItemProperties | None, ks: tuple[int, ...]):
        self.items, self.ks = items, ks
        self.sums = {f"{name}@{k}": np.zeros(2) for k in ks for name in ("novelty", "diversity")}
        self.popularity = {k: np.zeros(2) for k in ks}  # recommended, history: over users with both

    def add(self, top: np.ndarray, recommended: np.ndarray, seen: sp.csr_matrix) -> None:
        if self.items is None:
            return
        counts = self.items.counts
        history = beyond_accuracy.history_popularity(seen, counts)
        for k in self.ks:
            lists, valid = top[:, :k], recommended[:, :k]
            values = {"novelty": beyond_accuracy.novelty(lists, valid, counts)}
            if self.items.categories is not None:
                values["diversity"] = beyond_accuracy.intra_list_diversity(lists, valid, self.items.categories)
            for name, per_user in values.items():
                finite = np.isfinite(per_user)
                self.sums[f"{name}@{k}"] += (per_user[finite].sum(), finite.sum())
            popularity = beyond_accuracy.mean_popularity(lists, valid, counts)
            both = np.isfinite(popularity) & np.isfinite(history)
            self.popularity[k] += (popularity[both].sum(), history[both].sum())

    def results(self) -> dict[str, float]:
        if self.items is None:
            return {}
        out = {}
        for k in self.ks:
            out[f"novelty@{k}"] = _ratio(*self.sums[f"novelty@{k}"])
            out[f"popularity_lift@{k}"] = _ratio(*self.popularity[k])
            if self.items.categories is not None:
                out[f"diversity@{k}"] = _ratio(*self.sums[f"diversity@{k}"])
        return out


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    try:
        values = tuple(ks)
    except TypeError:
        raise ValueError(f"ks must be a sequence of positive integers; got {ks!r}") from None
    if not values or any(
        isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 for k in values
    ):
        raise ValueError(f"ks must be a non-empty sequence of positive integers; got {ks!r}")
    return tuple(sorted({int(k) for k in values}))


def _rank_chunk(
    raw: np.ndarray,
    seen: sp.csr_matrix,
    target: sp.csr_matrix,
    ks: tuple[int, ...],
    users: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-user metrics and the top-max(k) indices for one chunk of rows.

    Pessimistic 1-based rank of a relevant item with score s:
      (# unseen items scoring > s) + (# unseen non-relevant items scoring == s)
      + (its position among relevant items tied at s) + 1.
    Only ranks <= max(k) matter for the @k metrics, and every item scoring
    above the max(k)-th largest score t is in the top-max(k) list, so ranks of
    items scoring > t come from that short list; items at exactly t need one
    count of the row's items equal to t. Each user's best relevant item needs
    an exact rank (MRR): when it scores below t it costs one pass over the row.
    """
    m, num_items = raw.shape
    wide = raw.dtype == np.float64 or np.issubdtype(raw.dtype, np.integer)
    scores = np.array(raw, dtype=np.float64 if wide else np.float32, copy=True)
    if np.isnan(scores).any():
        bad = users[np.isnan(scores).any(axis=1)]
        raise ValueError(f"score_fn returned NaN scores for user(s) {list(bad[:5])}")
    seen_rows = np.repeat(np.arange(m), np.diff(seen.indptr))
    scores[seen_rows, seen.indices] = -np.inf
    n_seen = np.diff(seen.indptr)

    # Top-K indices sorted by descending score.
    big_k = min(max(ks), num_items)
    if big_k < num_items:
        part = np.argpartition(scores, num_items - big_k, axis=1)[:, num_items - big_k :]
    else:
        part = np.broadcast_to(np.arange(num_items), (m, num_items))
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    threshold = vals[:, -1]

    # Relevant entries (target rows are non-empty and disjoint from seen).
    rows = np.repeat(np.arange(m), np.diff(target.indptr))
    cols = target.indices.astype(np.int64)
    s = scores[rows, cols]

    # Ties among relevant items of one user: group size and position in group.
    grp_order = np.lexsort((cols, s, rows))
    r_sorted, s_sorted = rows[grp_order], s[grp_order]
    new_group = np.ones(len(grp_order), dtype=bool)
    new_group[1:] = (r_sorted[1:] != r_sorted[:-1]) | (s_sorted[1:] != s_sorted[:-1])
    group_id = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)
    group_size = np.diff(np.append(group_start, len(grp_order)))
    pos_sorted = np.arange(len(grp_order)) - group_start[group_id]
    tie_pos = np.empty(len(grp_order), dtype=np.int64)
    tie_size = np.empty(len(grp_order), dtype=np.int64)
    tie_pos[grp_order] = pos_sorted
    tie_size[grp_order] = group_size[group_id]

    ranks = np.full(len(s), np.inf)
    above = s >= threshold[rows]
    if above.any():
        e_rows, e_s = rows[above], s[above]
        gt = (vals[e_rows] > e_s[:, None]).sum(axis=1)
        eq = (vals[e_rows] == e_s[:, None]).sum(axis=1)
        at_threshold = e_s == threshold[e_rows]
        if at_threshold.any():
            t_rows = np.unique(e_rows[at_threshold])
            eq_t = np.zeros(m, dtype=np.int64)
            eq_t[t_rows] = np.count_nonzero(scores[t_rows] == threshold[t_rows, None], axis=1)
            eq = np.where(at_threshold, eq_t[e_rows], eq)
        # Seen items sit at -inf and must not count as ties of a -inf score.
        eq = eq - np.where(e_s == -np.inf, n_seen[e_rows], 0)
        ranks[above] = gt + (eq - tie_size[above]) + tie_pos[above] + 1

    # Exact best rank for users whose best relevant item is outside the top-K.
    best_s = np.full(m, -np.inf)
    np.maximum.at(best_s, rows, s)
    below = np.flatnonzero(best_s < threshold)
    if below.size:
        b_s = best_s[below]
        gt = np.count_nonzero(scores[below] > b_s[:, None], axis=1)
        eq = np.count_nonzero(scores[below] == b_s[:, None], axis=1)
        eq = eq - np.where(b_s == -np.inf, n_seen[below], 0)
        # The best entry of each such row: highest score, first among its ties.
        first = (tie_pos == 0) & (s == best_s[rows])
        entry = np.flatnonzero(first & np.isin(rows, below))
        row_to_below = np.full(m, -1)
        row_to_below[below] = np.arange(below.size)
        j = row_to_below[rows[entry]]
        ranks[entry] = gt[j] + (eq[j] - tie_size[entry]) + 1

    return metrics_from_ranks(ranks, rows, m, ks), top


def format_table(
    results: Mapping[str, Mapping[str, float]],
    keys: Sequence[str] | None = None,
    digits: int = 4,
) -> str:
    """Aligned text table, one row per model, one column per metric.

    Args:
      results: ``{model name: evaluate(...) result}``.
      keys: metric columns in order; default all keys in order of first
        appearance. A model lacking a key shows ``-``.
      digits: decimals for float values; ints are printed as ints.
    """
    if not isinstance(results, Mapping):
        raise ValueError(f"results must map model name -> metrics dict; got {type(results).__name__}")
    if keys is None:
        keys = list(dict.fromkeys(k for metrics in results.values() for k in metrics))
    keys = list(keys)

    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, (bool, np.bool_)):
            return str(bool(value))
        if isinstance(value, (int, np.integer)):
            return f"{int(value):,}"
        value = float(value)
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"

    header = ["model", *keys]
    body = [[str(name), *(cell(metrics.get(k)) for k in keys)] for name, metrics in results.items()]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def save_json(results: Mapping[str, Mapping[str, float]], path: str) -> None:
    """Writes ``results`` as JSON atomically (NaN and inf become ``null``)."""
    from tfrec.atomic import atomic_file

    def plain(value):
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            value = float(value)
            return value if math.isfinite(value) else None
        return value

    with atomic_file(path) as f:
        json.dump(plain(results), f, indent=2, sort_keys=False, allow_nan=False)
        f.write("\n")
