"""When and how much users and items were active in training, as ranking features.

A two-tower retrieval model knows tastes but not time: it cannot tell a user
whose ratings stopped in 1997 from one active last week, or a film everyone
watched this month from one that peaked years ago. A ranker can, from four
numbers per pair, all taken from the training interactions and looked up by
id inside the model (so the export needs nothing but ids):

* the user's latest training timestamp;
* the item's median training timestamp;
* the item's log interaction count (its popularity);
* the gap between the two timestamps.

Each is standardised with training statistics; unknown users and items get
the training mean (and a count of zero), never an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras as keras

DAY = 86400.0


def _table(keys, values, default: float) -> tf.lookup.StaticHashTable:
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(np.asarray(keys, dtype=str).astype(object), tf.string),
                                            tf.constant(np.asarray(values, np.float32))),
        default_value=float(default))


def _standardise(values: np.ndarray) -> tuple[float, float]:
    std = float(values.std()) if len(values) else 1.0
    return (float(values.mean()) if len(values) else 0.0), (std if std > 0 else 1.0)


class ActivityFeatures(keras.layers.Layer):
    """``layer(user_ids, item_ids) -> [B, 4]`` standardised activity features of the pairs."""

    def __init__(self, train: pd.DataFrame, **kwargs):
        super().__init__(**kwargs)
        if len(train) == 0:
            raise ValueError("activity features need training interactions")
        user_last = train.groupby("user_id").timestamp.max() / DAY
        item_time = train.groupby("item_id").timestamp.median() / DAY
        item_count = np.log1p(train.groupby("item_id").size().astype(np.float64))
        self.stats = {
            "user_last": _standardise(user_last.to_numpy()),
            "item_time": _standardise(item_time.to_numpy()),
            "item_count": _standardise(item_count.to_numpy()),
        }
        gap = (user_last.mean() - item_time.to_numpy())
        self.stats["gap"] = _standardise(gap)
        self.user_last = _table(user_last.index, user_last.to_numpy(), user_last.mean())
        self.item_time = _table(item_time.index, item_time.to_numpy(), item_time.mean())
        self.item_count = _table(item_count.index, item_count.to_numpy(), 0.0)

    def call(self, user_ids, item_ids):
        last = self.user_last.lookup(user_ids)
        when = self.item_time.lookup(item_ids)
        raw = {"user_last": last, "item_time": when, "item_count": self.item_count.lookup(item_ids),
               "gap": last - when}
        return tf.stack([(raw[name] - mean) / std for name, (mean, std) in self.stats.items()], axis=-1)

    def get_config(self):
        return {**super().get_config(), "stats": self.stats}
