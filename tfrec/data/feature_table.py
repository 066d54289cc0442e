"""In-graph lookup of an entity's raw features from its id.

Training reads only ``(user_id, item_id)`` pairs (from memory or TFRecord
shards) and joins the user's and the item's features inside the tf.data
pipeline; the exported retrieval model does the same join inside its
signature, so a serving request needs nothing but a ``user_id``. One join,
used in both places, means training and serving can't disagree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf


class FeatureTable(tf.Module):
    """Maps a batch of string ids to a dict of feature tensors.

    Args:
      frame: one row per id.
      key: the id column.
      string_columns: columns returned as tf.string; unknown ids get "".
      float_columns: columns returned as tf.float32; unknown ids get the
        column's mean, a neutral value for a normalised numeric feature.
      vector_columns: name → float array ``[len(frame), D]`` aligned with the
        rows (e.g. cached content embeddings); unknown ids get zeros.
      prefix: prepended to every returned feature name (e.g. ``"user_"``).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        key: str,
        string_columns=(),
        float_columns=(),
        vector_columns: dict | None = None,
        prefix: str = "",
        name: str | None = None,
    ):
        super().__init__(name=name)
        keys = tf.constant(frame[key].to_numpy(dtype=object), tf.string)
        self._string_tables = {}
        for column in string_columns:
            values = tf.constant(frame[column].to_numpy(dtype=object), tf.string)
            self._string_tables[prefix + column] = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, values), default_value=""
            )
        self._float_tables = {}
        for column in float_columns:
            values = frame[column].to_numpy(dtype=np.float32)
            self._float_tables[prefix + column] = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, tf.constant(values)),
                default_value=float(values.mean()) if len(values) else 0.0,
            )

        self._vectors = {}
        if vector_columns:
            self._row = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(frame), dtype=tf.int64)),
                default_value=len(frame),
            )
            for column, matrix in vector_columns.items():
                matrix = np.asarray(matrix, np.float32)
                if matrix.ndim != 2 or len(matrix) != len(frame):
                    raise ValueError(f"vector column {column!r} must be [{len(frame)}, D], got {matrix.shape}")
                padded = np.concatenate([matrix, np.zeros((1, matrix.shape[1]), np.float32)])
                self._vectors[prefix + column] = tf.Variable(padded, trainable=False, name=column)

    @property
    def feature_names(self) -> list[str]:
        return [*self._string_tables, *self._float_tables, *self._vectors]

    def __call__(self, ids: tf.Tensor) -> dict[str, tf.Tensor]:
        out = {name: table.lookup(ids) for name, table in self._string_tables.items()}
        out.update({name: table.lookup(ids) for name, table in self._float_tables.items()})
        if self._vectors:
            rows = self._row.lookup(ids)
            out.update({name: tf.gather(matrix, rows) for name, matrix in self._vectors.items()})
        return out
