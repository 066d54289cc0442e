"""A user's intent from their recent items: a causal Transformer, a GRU or a mean over the history.

Input ``history``: string ``[B, L]`` item ids, newest last, left-padded with
"". Items outside the training vocabulary (and padding) are ignored, never an
error, so a client may send whatever the user just touched. Each item is its
own id embedding plus, when the model reads content, its projected content
vector (cached BERT/EfficientNet vectors of the catalogue), so a history of
items the ids barely know still says something. Output: ``[B, dim]``; a
history with no known item gives zeros, leaving the user id and features to
speak.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

ENCODERS = ("transformer", "gru", "mean")


class HistoryEncoder(keras.layers.Layer):
    """``history [B, L]`` → ``[B, dim]``.

    Args:
      item_vocabulary: item ids the encoder knows (the training vocabulary).
      dim: width of item vectors and of the output.
      length: L, the number of recent items read.
      kind: ``transformer`` (causal self-attention with learned positions; the
        newest position's output), ``gru`` or ``mean``.
      content_ids, content_vectors: optional catalogue ids and their content
        vectors ``[N, D]`` (frozen), added to the item vectors after a projection.
    """

    def __init__(self, item_vocabulary, dim: int, length: int, kind: str = "transformer",
                 num_layers: int = 1, num_heads: int = 2, dropout: float = 0.1,
                 content_ids=None, content_vectors=None, **kwargs):
        super().__init__(**kwargs)
        if kind not in ENCODERS:
            raise ValueError(f"history encoder must be one of {ENCODERS}, got {kind!r}")
        self.dim, self.length, self.kind = dim, length, kind
        self.lookup = keras.layers.StringLookup(vocabulary=list(item_vocabulary), num_oov_indices=1)
        self.embedding = keras.layers.Embedding(len(item_vocabulary) + 1, dim)
        self.content = None
        if content_vectors is not None:
            vectors = np.concatenate([np.asarray(content_vectors, np.float32),
                                      np.zeros((1, np.shape(content_vectors)[1]), np.float32)])
            self._content_row = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(np.asarray(content_ids, dtype=object)),
                                                    tf.range(len(content_ids), dtype=tf.int64)),
                default_value=len(content_ids))
            self.content = tf.Variable(vectors, trainable=False, name="content_vectors")
            self.content_projection = keras.layers.Dense(dim)
        self.dropout = keras.layers.Dropout(dropout)
        if kind == "transformer":
            self.position = keras.layers.Embedding(length, dim)
            self.blocks = [_CausalBlock(dim, num_heads, dropout) for _ in range(num_layers)]
        elif kind == "gru":
            self.gru = keras.layers.GRU(dim)

    def call(self, history, training=False):
        history = history[:, -self.length:]
        indices = self.lookup(history)
        known = indices > 0  # 0 is the OOV bucket, which padding also falls into
        x = self.embedding(indices)
        if self.content is not None:
            x += self.content_projection(tf.gather(self.content, self._content_row.lookup(history)))
        x = self.dropout(x, training=training)
        mask = tf.cast(known, x.dtype)[..., None]
        any_known = tf.reduce_any(known, axis=1, keepdims=True)
        if self.kind == "mean":
            out = tf.reduce_sum(x * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        elif self.kind == "gru":
            out = self.gru(x, mask=known, training=training)
        else:
            steps = tf.shape(x)[1]
            x += self.position(tf.range(self.length - steps, self.length))[None]
            for block in self.blocks:
                x = block(x, known, training=training)
            out = x[:, -1]
        return tf.where(any_known, out, tf.zeros_like(out))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "length": self.length, "kind": self.kind}


class _CausalBlock(keras.layers.Layer):
    """Pre-norm self-attention (each position sees itself and older known items) and a feed-forward."""

    def __init__(self, dim: int, num_heads: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(num_heads, key_dim=max(dim // num_heads, 1),
                                                         dropout=dropout)
        self.norm1, self.norm2 = keras.layers.LayerNormalization(), keras.layers.LayerNormalization()
        self.feed_forward = keras.Sequential([keras.layers.Dense(2 * dim, activation="relu"),
                                              keras.layers.Dense(dim)])
        self.dropout = keras.layers.Dropout(dropout)

    def call(self, x, known, training=False):
        steps = tf.shape(x)[1]
        causal = tf.linalg.band_part(tf.ones((steps, steps), tf.bool), -1, 0)
        # A query row with no visible key would attend uniformly to padding; let it see itself.
        visible = (causal[None] & known[:, None, :]) | tf.eye(steps, dtype=tf.bool)[None]
        h = self.norm1(x)
        x = x + self.dropout(self.attention(h, h, attention_mask=visible, training=training), training=training)
        return x + self.dropout(self.feed_forward(self.norm2(x)), training=training)
