"""How strongly a candidate co-occurs with the user's recent items, as ranking features.

A sequential retrieval model compresses a history into one vector and scores
every item by a dot product with it. Counting which items actually go
together is a different view, and a complementary one: it is what lets the
ranker improve on the sequential model's own order of its top 100 (see the
README's two-stage figures). Two item-item relations are learnt in closed
form from interactions, each kept as its ``neighbours`` strongest entries per
item:

* EASE weights (:mod:`tfrec.models.ease`): what the rest of a profile says about an item;
* transitions: how often an item follows another within ``window`` steps of a
  user's timeline.

For a pair (history ``[H]`` newest last, candidate) the layer gives three
numbers: the EASE score of the candidate from the whole history and from its
latest ``recent`` items, and the log transition count from the latest
``window`` items. They are standardised with :meth:`adapt`'s statistics.

The relations live in non-trainable variables and are recomputed with
:meth:`fit`. A ranker is trained with relations from the data as it stood
before its training targets (else every target would co-occur with its own
history by construction) and serves with relations from all training data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf
import tf_keras as keras

from tfrec.data.history import chronological
from tfrec.models.ease import EASE
from tfrec.models.feature_encoders import distinct_rows

FEATURES = ("ease_history", "ease_recent", "log_transitions")


def strongest(matrix: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the columns and values of the ``neighbours`` largest positive entries
    (``[rows, neighbours]``; unused slots: column -1, value 0)."""
    k = min(neighbours, matrix.shape[1])
    columns = np.argpartition(-matrix, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(matrix, columns, axis=1)
    keep = values > 0
    out_columns = np.full((matrix.shape[0], neighbours), -1, np.int32)
    out_values = np.zeros((matrix.shape[0], neighbours), np.float32)
    out_columns[:, :k] = np.where(keep, columns, -1)
    out_values[:, :k] = np.where(keep, values, 0.0)
    return out_columns, out_values


def transition_counts(interactions: pd.DataFrame, index: pd.Index, window: int) -> np.ndarray:
    """``[items, items]`` counts of item j following item i within ``window`` steps of a timeline."""
    ordered = chronological(interactions)
    columns = index.get_indexer(ordered.item_id.astype(str))
    users = ordered.user_id.astype(str).to_numpy()
    rows, cols = [], []
    for step in range(1, window + 1):
        same_user = users[step:] == users[:-step]
        source, target = columns[:-step][same_user], columns[step:][same_user]
        known = (source >= 0) & (target >= 0)
        rows.append(source[known])
        cols.append(target[known])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sp.coo_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(index), len(index)))
    return counts.toarray()


class ItemItemFeatures(keras.layers.Layer):
    """``layer(histories [B, H], item_ids [B]) -> [B, 3]`` standardised co-occurrence features.

    Args:
      item_ids: the catalogue; other ids (and history padding) have no relations.
      neighbours: strongest related items kept per item and relation.
      ease_l2: EASE regularisation.
      window: transition steps, and the latest history items the transition feature reads.
      recent: the latest history items of the second EASE feature.
    """

    def __init__(self, item_ids, neighbours: int = 100, ease_l2: float = 500.0, window: int = 3, recent: int = 5,
                 **kwargs):
        super().__init__(**kwargs)
        self.item_ids = [str(i) for i in item_ids]
        self.neighbours, self.ease_l2, self.window, self.recent = int(neighbours), float(ease_l2), int(window), int(recent)
        if min(self.neighbours, self.window, self.recent) < 1:
            raise ValueError("item-item features need neighbours, window and recent >= 1")
        self.lookup = keras.layers.StringLookup(vocabulary=self.item_ids, num_oov_indices=1)  # 0: no item
        rows = len(self.item_ids) + 1
        table = dict(shape=(rows, self.neighbours), trainable=False)
        self.ease_columns = self.add_weight(name="ease_columns", dtype=tf.int32,
                                            initializer=keras.initializers.Constant(-1), **table)
        self.ease_values = self.add_weight(name="ease_values", initializer="zeros", **table)
        self.next_columns = self.add_weight(name="transition_columns", dtype=tf.int32,
                                            initializer=keras.initializers.Constant(-1), **table)
        self.next_values = self.add_weight(name="transition_values", initializer="zeros", **table)
        self.mean = self.add_weight(name="mean", shape=(len(FEATURES),), initializer="zeros", trainable=False)
        self.std = self.add_weight(name="std", shape=(len(FEATURES),), initializer="ones", trainable=False)

    def fit(self, interactions: pd.DataFrame) -> "ItemItemFeatures":
        """Recomputes both relations from ``interactions`` (``user_id``, ``item_id``, ``timestamp``)."""
        index = pd.Index(self.item_ids)
        weights = EASE(self.item_ids, self.ease_l2).fit(interactions).weights  # rows and columns: item_ids
        for (columns, values), matrix in (((self.ease_columns, self.ease_values), weights),
                                          ((self.next_columns, self.next_values),
                                           transition_counts(interactions, index, self.window))):
            top, strength = strongest(matrix, self.neighbours)
            # Row 0 and column id 0 are the lookup's no-item slot.
            columns.assign(np.concatenate([np.full((1, self.neighbours), -1, np.int32),
                                           np.where(top >= 0, top + 1, -1)]).astype(np.int32))
            values.assign(np.concatenate([np.zeros((1, self.neighbours), np.float32), strength]))
        return self

    def adapt(self, histories, item_ids, batch_size: int = 4096) -> "ItemItemFeatures":
        """Sets the standardisation from pairs like the training ones."""
        raw = np.concatenate([self.raw(histories[i:i + batch_size], item_ids[i:i + batch_size]).numpy()
                              for i in range(0, len(item_ids), batch_size)])
        self.mean.assign(raw.mean(axis=0))
        self.std.assign(np.maximum(raw.std(axis=0), 1e-6))
        return self

    def _totals(self, columns, values, history) -> tf.Tensor:
        """``[D, items + 1]``: for each history row, the relation summed over its items, for every item."""
        related, strength = tf.gather(columns, history), tf.gather(values, history)  # [D, H, neighbours]
        row = tf.broadcast_to(tf.range(tf.shape(history)[0])[:, None, None], tf.shape(related))
        kept = related >= 0
        return tf.scatter_nd(tf.stack([row[kept], related[kept]], axis=-1), strength[kept],
                             [tf.shape(history)[0], len(self.item_ids) + 1])

    def raw(self, histories, item_ids) -> tf.Tensor:
        # The rows of a candidate list (or a serving request) share one history: each distinct
        # history is summed once into a row over the catalogue, and every pair reads its item there.
        first, position = distinct_rows(tf.strings.reduce_join(histories, axis=-1, separator="\x1f"))
        history = tf.cast(self.lookup(tf.gather(histories, first)), tf.int32)
        pair = tf.stack([position, tf.cast(self.lookup(item_ids), tf.int32)], axis=-1)
        ease, recent, following = (
            tf.gather_nd(self._totals(columns, values, h), pair)
            for columns, values, h in ((self.ease_columns, self.ease_values, history),
                                       (self.ease_columns, self.ease_values, history[:, -self.recent:]),
                                       (self.next_columns, self.next_values, history[:, -self.window:])))
        return tf.stack([ease, recent, tf.math.log1p(following)], axis=-1)

    def call(self, histories, item_ids):
        return (self.raw(histories, item_ids) - self.mean) / self.std

    def get_config(self):
        return {**super().get_config(), "item_ids": self.item_ids, "neighbours": self.neighbours,
                "ease_l2": self.ease_l2, "window": self.window, "recent": self.recent}
