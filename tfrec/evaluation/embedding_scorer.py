"""Full-ranking scores of a two-tower model: every user against every item."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrec.data.history import HISTORY, history_rows
from tfrec.data.pipeline import FeatureJoin, id_dataset


def candidate_embeddings(candidate_tower, join: FeatureJoin, item_ids, batch_size: int = 4096) -> tf.Tensor:
    """``[num_items, D]`` embeddings of ``item_ids``, in order."""
    parts = [candidate_tower(batch) for batch in id_dataset(item_ids, "item_id", join, batch_size)]
    return tf.concat(parts, axis=0)


class EmbeddingScorer:
    """``scorer(user_ids) -> [b, num_items]`` dot-product scores for the evaluation harness.

    Item embeddings are computed once at construction; call it again after
    the weights change (the validation callback makes a new one per epoch).
    ``histories`` (user → recent items, for a sequential query tower) is the
    history each user's query is made with; unknown users get an empty one.
    """

    def __init__(self, model, join: FeatureJoin, item_ids, batch_size: int = 4096, histories: dict | None = None):
        self.model, self.join, self.histories = model, join, histories
        self.item_embeddings = candidate_embeddings(model.candidate_tower, join, item_ids, batch_size)

    def __call__(self, user_ids) -> np.ndarray:
        return tf.matmul(self.queries(user_ids), self.item_embeddings, transpose_b=True).numpy()

    def queries(self, user_ids) -> tf.Tensor:
        """``[b, D]`` query embeddings of the users, as scored against the items."""
        ids = tf.constant(np.asarray(user_ids, dtype=str).astype(object))
        features = self.join({"user_id": ids})
        if self.histories is not None:
            length = len(next(iter(self.histories.values()))) if self.histories else 1
            features[HISTORY] = tf.constant(history_rows(self.histories, user_ids, length), tf.string)
        return self.model.query_tower(features)
