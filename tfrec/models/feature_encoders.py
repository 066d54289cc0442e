"""Small Keras layers that turn one raw feature into a dense vector.

Towers are built from these by name, so a new modality (BERT text,
EfficientNet image, a history encoder) is one more encoder in the dict, not a
new tower class. Each takes raw strings or floats, so exported models take
raw features too.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrec.data.schema import MULTI_VALUE_SEPARATOR
from tfrec.data.vocabulary import TITLE_TOKEN_PATTERN


def title_tokens(text: tf.Tensor) -> tf.RaggedTensor:
    """Lower-cased alphanumeric words of a batch of strings, as a ragged batch."""
    cleaned = tf.strings.regex_replace(tf.strings.lower(text), TITLE_TOKEN_PATTERN, " ")
    return tf.strings.split(cleaned)


def distinct_rows(ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(first, position)`` of a ``[B]`` batch of ids: the row where each distinct id first
    appears, and for every row the index of its id among them. Encode ``gather(x, first)``
    once per distinct id, then ``gather(encoded, position)`` gives every row its vector."""
    unique, position = tf.unique(ids)
    first = tf.math.unsorted_segment_min(tf.range(tf.size(ids)), position, tf.size(unique))
    return first, position


class IdEmbedding(keras.layers.Layer):
    """Embeds a string id; ids outside ``vocabulary`` share ``num_oov`` buckets.

    ``id_dropout`` maps that share of training ids to the first OOV bucket, so
    the OOV embedding learns what an unknown id looks like (a new item, a new
    user) instead of staying at its random start.
    """

    def __init__(self, vocabulary, dim: int, num_oov: int = 1, l2: float = 0.0, id_dropout: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.dim, self.num_oov, self.l2, self.id_dropout = dim, num_oov, l2, id_dropout
        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, num_oov_indices=num_oov)
        self.embedding = keras.layers.Embedding(
            len(self.vocabulary) + num_oov,
            dim,
            embeddings_regularizer=keras.regularizers.l2(l2) if l2 else None,
        )

    def call(self, ids, training=False):
        indices = self.lookup(ids)
        if training and self.id_dropout > 0:
            dropped = tf.random.uniform(tf.shape(indices)) < self.id_dropout
            indices = tf.where(dropped, tf.zeros_like(indices), indices)
        return self.embedding(indices)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "dim": self.dim,
                "num_oov": self.num_oov, "l2": self.l2, "id_dropout": self.id_dropout}


class BagEmbedding(keras.layers.Layer):
    """Mean embedding of a bag of string tokens; an empty bag embeds to zeros.

    ``splitter`` turns a batch of raw strings into a ragged batch of tokens:
    ``"multi_value"`` splits ``|``-joined categories (genres), ``"words"``
    splits free text into lower-cased words (titles).
    """

    def __init__(self, vocabulary, dim: int, splitter: str = "multi_value", num_oov: int = 1, **kwargs):
        super().__init__(**kwargs)
        if splitter not in ("multi_value", "words"):
            raise ValueError(f"splitter must be 'multi_value' or 'words', got {splitter!r}")
        self.vocabulary = list(vocabulary)
        self.dim, self.splitter, self.num_oov = dim, splitter, num_oov
        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, num_oov_indices=num_oov)
        self.embedding = keras.layers.Embedding(len(self.vocabulary) + num_oov, dim)

    def call(self, text):
        tokens = title_tokens(text) if self.splitter == "words" else tf.strings.split(text, sep=MULTI_VALUE_SEPARATOR)
        # Padded to a dense [B, T] with empty tokens masked out: the same mean as over the ragged
        # bag, in a third of the training step's ops.
        tokens = tokens.to_tensor(default_value="")
        present = tf.cast(tf.not_equal(tokens, ""), self.compute_dtype)
        vectors = self.embedding(self.lookup(tokens)) * present[..., None]
        return tf.reduce_sum(vectors, axis=1) / tf.maximum(tf.reduce_sum(present, axis=1, keepdims=True), 1.0)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "dim": self.dim,
                "splitter": self.splitter, "num_oov": self.num_oov}


class StandardizedNumber(keras.layers.Layer):
    """A float feature standardised with training mean and deviation, as ``[B, 1]``."""

    def __init__(self, mean: float, std: float, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = float(mean), float(std) if std > 0 else 1.0

    def call(self, values):
        # In the layer's compute dtype, so it concatenates with embeddings under mixed precision.
        return tf.cast(((tf.cast(values, tf.float32) - self.mean) / self.std)[:, None], self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


class ContentProjection(keras.layers.Layer):
    """Projects a pretrained content vector (BERT text, EfficientNet image) to ``dim``.

    An all-zero vector means the item has no such content (no overview, no
    poster, an undecodable image); it gets a learned "missing" embedding
    instead of the projection of zeros. ``modality_dropout`` hides that share
    of training vectors, so the tower learns to embed items that lack a
    modality, and cold items are not pushed away by a missing poster.
    """

    def __init__(self, dim: int, modality_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.modality_dropout = dim, modality_dropout
        self.dense = keras.layers.Dense(dim)
        self.missing = self.add_weight(name="missing", shape=(dim,), initializer="zeros")

    def call(self, vectors, training=False):
        vectors = tf.cast(vectors, tf.float32)
        present = tf.reduce_any(tf.not_equal(vectors, 0.0), axis=-1)
        if training and self.modality_dropout > 0:
            present &= tf.random.uniform(tf.shape(present)) >= self.modality_dropout
        return tf.where(present[:, None], self.dense(vectors), self.missing[None, :])

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "modality_dropout": self.modality_dropout}
