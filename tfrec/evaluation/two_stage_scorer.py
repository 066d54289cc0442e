"""Scores for the full-ranking harness from a retrieval model followed by a ranker.

Retrieval scores the whole catalogue, the user's seen items are set aside,
the top ``k`` unseen items get the ranker's scores and every other item
``-inf``: exactly what a two-stage recommender can return, measured in the
same harness (``tfrec.evaluation.full_ranking.evaluate``) as retrieval alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.candidate_lists import seen_by_user, top_candidates
from tfrec.data.history import HISTORY, history_rows
from tfrec.models.ranking import RETRIEVAL_SCORE, SCORE


class PairScorer:
    """``scorer(user_ids, item_ids, retrieval_scores) -> [n]`` ranking scores of (user, item) pairs.

    Features are joined by id like in training; ``output`` picks the model's
    output (``score``, ``rating``, ``engagement`` ...). A ranker with a history
    encoder reads each user's recent items from ``histories`` (user id →
    ``[H]`` items, newest last); unknown users get an empty history.
    """

    def __init__(self, model, join, output: str = SCORE, batch_size: int = 8192, histories: dict | None = None):
        self.model, self.join, self.output, self.batch_size = model, join, output, batch_size
        self.uses_retrieval_score = RETRIEVAL_SCORE in model.pair_encoders
        self.history_length = model.history_length
        if self.history_length and histories is None:
            raise ValueError("this ranker reads users' recent items; pass histories")
        self.histories = histories

    def __call__(self, user_ids, item_ids, retrieval_scores=None) -> np.ndarray:
        user_ids = np.asarray(user_ids, dtype=str).astype(object)
        item_ids = np.asarray(item_ids, dtype=str).astype(object)
        if self.uses_retrieval_score and retrieval_scores is None:
            raise ValueError("this ranker reads the retrieval score of each pair; pass retrieval_scores")
        out = []
        for start in range(0, len(user_ids), self.batch_size):
            stop = start + self.batch_size
            features = self.join({"user_id": tf.constant(user_ids[start:stop]),
                                  "item_id": tf.constant(item_ids[start:stop])})
            if self.uses_retrieval_score:
                features[RETRIEVAL_SCORE] = tf.constant(np.asarray(retrieval_scores[start:stop], np.float32))
            if self.history_length:
                features[HISTORY] = tf.constant(history_rows(self.histories, user_ids[start:stop],
                                                             self.history_length))
            out.append(self.model.serving_outputs(self.model(features))[self.output].numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)


class TwoStageScorer:
    """``scorer(user_ids) -> [b, num_items]``: ranker scores on the top-``k`` retrieved unseen items, -inf elsewhere.

    Args:
      retrieval_fn: full-catalogue retrieval scores for a batch of user ids.
      rank_fn: a :class:`PairScorer` (or any ``(users, items, retrieval_scores) -> scores``).
      item_ids: the catalogue, in the columns' order.
      seen: interactions never recommended back (train + validation on test).
      k: candidates per user.
    """

    def __init__(self, retrieval_fn, rank_fn, item_ids, seen: pd.DataFrame, k: int = 100):
        self.retrieval_fn, self.rank_fn, self.k = retrieval_fn, rank_fn, k
        self.item_ids = np.asarray(item_ids, dtype=str).astype(object)
        self.seen = seen_by_user(seen, pd.Index(self.item_ids))

    def __call__(self, user_ids) -> np.ndarray:
        user_ids = np.asarray(user_ids, dtype=str).astype(object)
        scores = np.asarray(self.retrieval_fn(user_ids), np.float32)
        empty = np.zeros(0, np.int64)
        top = top_candidates(scores, [self.seen.get(u, empty) for u in user_ids], self.k)
        retrieved = np.take_along_axis(scores, top, axis=1)
        k = top.shape[1]
        ranked = self.rank_fn(np.repeat(user_ids, k), self.item_ids[top].ravel(), retrieved.ravel())
        out = np.full(scores.shape, -np.inf, np.float32)
        valid = np.isfinite(retrieved)  # fewer than k unseen items: the rest stay out
        ranked = np.where(valid, ranked.reshape(top.shape), -np.inf)
        np.put_along_axis(out, top, ranked, axis=1)
        return out
