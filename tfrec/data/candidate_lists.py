"""Lists of retrieved candidates, each with its target item marked: the ranker's training data.

A two-stage recommender's ranker only ever sees what retrieval returns, so it
is trained on exactly that: for a (user, target item) pair, the retrieval
model scores the whole catalogue, the items the user had seen before the
target are excluded, and the top ``k`` form the list; the target is labelled
engaged (1), every other candidate not (0). When retrieval missed the target
it can replace the weakest candidate (``include_positive``), so every list
teaches something; otherwise the list is dropped and counted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.pipeline import FeatureJoin, joined_batches

ScoreFn = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass
class CandidateLists:
    """``N`` lists of ``L`` candidates: ids, labels and the retrieval scores.

    Attributes:
      user_ids: ``[N]`` str.
      item_ids: ``[N, L]`` str, best retrieval score first.
      engaged: ``[N, L]`` float32, 1.0 at the target.
      ratings: ``[N, L]`` float32, the target's rating at the target, 0 elsewhere.
      retrieval_scores: ``[N, L]`` float32.
      histories: optional ``[N, H]`` str, the user's items before the target
        (newest last), for a ranker that reads recent history.
      counts: ``lists``, ``target_retrieved`` (targets retrieval put in the
        top k), ``target_inserted``, ``dropped``.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    engaged: np.ndarray
    ratings: np.ndarray
    retrieval_scores: np.ndarray
    counts: dict = dataclasses.field(default_factory=dict)
    histories: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.user_ids)

    def subset(self, index) -> "CandidateLists":
        return CandidateLists(self.user_ids[index], self.item_ids[index], self.engaged[index],
                              self.ratings[index], self.retrieval_scores[index], dict(self.counts),
                              None if self.histories is None else self.histories[index])

    def concat(self, other: "CandidateLists") -> "CandidateLists":
        """These lists followed by ``other``'s (same list length; histories on both or neither)."""
        if (self.histories is None) != (other.histories is None):
            raise ValueError("cannot join candidate lists with and without histories")
        joined = {f: np.concatenate([getattr(self, f), getattr(other, f)])
                  for f in ("user_ids", "item_ids", "engaged", "ratings", "retrieval_scores")}
        histories = None if self.histories is None else np.concatenate([self.histories, other.histories])
        counts = {k: self.counts.get(k, 0) + other.counts.get(k, 0) for k in {*self.counts, *other.counts}}
        return CandidateLists(**joined, counts=counts, histories=histories)

    def features(self) -> dict[str, np.ndarray]:
        from tfrec.data.history import HISTORY
        from tfrec.models.ranking import ENGAGED, RETRIEVAL_SCORE

        out = {"user_id": self.user_ids.astype(str).astype(object),
               "item_id": self.item_ids.astype(str).astype(object),
               ENGAGED: self.engaged, "rating": self.ratings, RETRIEVAL_SCORE: self.retrieval_scores}
        if self.histories is not None:
            out[HISTORY] = self.histories.astype(str).astype(object)
        return out

    def dataset(self, join: FeatureJoin, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
        """Batches of ``[B, L]`` list features joined with user and item features."""
        ds = tf.data.Dataset.from_tensor_slices(self.features())
        if shuffle_seed is not None:
            ds = ds.shuffle(len(self), seed=shuffle_seed, reshuffle_each_iteration=True)
        return joined_batches(ds.batch(batch_size), join)


def seen_by_user(frame: pd.DataFrame, item_index: pd.Index) -> dict[str, np.ndarray]:
    """user id → column indices of the catalogue items in ``frame`` (unknown items ignored)."""
    columns = item_index.get_indexer(frame.item_id.astype(str))
    keep = columns >= 0
    grouped = pd.Series(columns[keep]).groupby(frame.user_id.astype(str).to_numpy()[keep]).apply(np.asarray)
    return grouped.to_dict()


def top_candidates(scores: np.ndarray, exclude: list[np.ndarray], k: int) -> np.ndarray:
    """``[b, k]`` column indices of the best-scoring items per row, best first, ``exclude`` masked."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    for row, columns in enumerate(exclude):
        scores[row, columns] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def build_candidate_lists(score_fn: ScoreFn, item_ids, targets: pd.DataFrame, seen: pd.DataFrame, k: int,
                          include_positive: bool = True, batch_size: int = 256,
                          histories: np.ndarray | None = None) -> CandidateLists:
    """One list per row of ``targets`` (``user_id``, ``item_id``, ``rating``).

    Args:
      score_fn: retrieval scores ``[b, num_items]`` for a batch of user ids.
      item_ids: the catalogue (score columns).
      seen: interactions excluded from a user's lists (what they saw before the
        targets); a target itself is never excluded from its own list.
      k: list length; users with fewer than ``k`` unseen items are dropped.
      histories: optional ``[len(targets), H]`` recent items before each target, kept with its list.
    """
    item_ids = np.asarray(item_ids, dtype=str).astype(object)
    index = pd.Index(item_ids)
    if k < 2 or k > len(item_ids):
        raise ValueError(f"candidate list length k must be in [2, {len(item_ids)}] (the catalogue), got {k}")
    seen_items = seen_by_user(seen, index)
    empty = np.zeros(0, np.int64)
    targets = targets.assign(column=index.get_indexer(targets.item_id.astype(str)))
    unknown = int((targets.column < 0).sum())
    if histories is not None:
        histories = np.asarray(histories, dtype=object)[targets.column.to_numpy() >= 0]
    targets = targets[targets.column >= 0]
    users = targets.user_id.astype(str).to_numpy(object)
    out = {"user_ids": [], "columns": [], "engaged": [], "ratings": [], "scores": [], "rows": []}
    retrieved = inserted = dropped = 0
    for start in range(0, len(targets), batch_size):
        batch = targets.iloc[start:start + batch_size]
        batch_users = users[start:start + batch_size]
        scores = np.asarray(score_fn(batch_users), np.float32)
        target_col = batch.column.to_numpy()
        exclude = [np.setdiff1d(seen_items.get(u, empty), [t]) for u, t in zip(batch_users, target_col)]
        top = top_candidates(scores, exclude, k)
        top_scores = np.take_along_axis(scores, top, axis=1)
        for row in range(len(batch)):
            if np.isinf(top_scores[row, -1]):
                dropped += 1  # fewer than k unseen items
                continue
            columns, row_scores = top[row].copy(), top_scores[row].copy()
            hit = np.flatnonzero(columns == target_col[row])
            if hit.size:
                retrieved += 1
            elif include_positive:
                inserted += 1
                columns[-1], row_scores[-1] = target_col[row], scores[row, target_col[row]]
                hit = np.array([k - 1])
            else:
                dropped += 1
                continue
            engaged = np.zeros(k, np.float32)
            engaged[hit] = 1.0
            out["user_ids"].append(batch_users[row])
            out["columns"].append(columns)
            out["engaged"].append(engaged)
            out["ratings"].append(engaged * np.float32(batch.rating.iloc[row]))
            out["scores"].append(row_scores)
            out["rows"].append(start + row)
    n = len(out["user_ids"])
    shape = (n, k)
    return CandidateLists(
        user_ids=np.asarray(out["user_ids"], dtype=object),
        item_ids=item_ids[np.asarray(out["columns"], np.int64).reshape(shape)],
        engaged=np.asarray(out["engaged"], np.float32).reshape(shape),
        ratings=np.asarray(out["ratings"], np.float32).reshape(shape),
        retrieval_scores=np.asarray(out["scores"], np.float32).reshape(shape),
        counts={"lists": n, "target_retrieved": retrieved, "target_inserted": inserted, "dropped": dropped,
                "unknown_target_items": unknown},
        histories=None if histories is None else histories[np.asarray(out["rows"], np.int64)],
    )
