"""Two-tower building blocks: a tower is named feature encoders, concatenated, then an MLP.

``build_query_tower`` and ``build_candidate_tower`` pick encoders for the
features a data set has; adding a modality means adding an encoder to the
dict, and the rest (fusion MLP, export, evaluation) stays the same.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrec.config import RetrievalModelConfig
from tfrec.data.schema import RecDataset
from tfrec.data.vocabulary import Vocabularies
from tfrec.data.history import HISTORY
from tfrec.models.feature_encoders import (BagEmbedding, ContentProjection, IdEmbedding, StandardizedNumber,
                                          distinct_rows)


class Tower(keras.Model):
    """Embeds a feature dict: ``encoders[name](features[name])`` concatenated → MLP.

    Args:
      encoders: feature name → layer mapping that feature's ``[B]`` tensor to ``[B, d]``.
      hidden_dims: widths of the ReLU layers after the concatenation.
      output_dim: the embedding size; a final linear layer projects to it
        unless there is exactly one encoder of that width and no hidden layer.
      l2_normalize: unit-length outputs, so scores are cosine similarities.
      featurizer: optional layer run first that adds derived features (content
        vectors from raw text and image bytes) to the feature dict.
      bias: append a learned scalar (linear in the concatenated features) as
        a last column: the candidate side of an item bias.
      constant: append this constant as a last column: the query side of the
        item bias. With ``constant = temperature`` the retrieval logit becomes
        ``q·c / temperature + bias``, and a plain dot product (BruteForce, TF
        Serving) still ranks by it.
      skip: feature name → encoder of ``output_dim`` whose output is added to
        the MLP's, before normalising (an id path that bypasses the fusion).
      dedupe_key: in training, a feature that determines all the others there
        (``item_id`` for a candidate tower: training joins features by id):
        each of its distinct values in a batch is embedded once and the result
        gathered back to every row. A batch of 512 MovieLens interactions
        holds about 350 distinct items. Inference embeds every row as given,
        so a new item's content counts even under a known or repeated id.
    """

    def __init__(self, encoders: dict, hidden_dims=(), output_dim: int = 64, dropout: float = 0.0,
                 l2_normalize: bool = True, featurizer=None, bias: bool = False, constant: float | None = None,
                 skip: dict | None = None, dedupe_key: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.skip = dict(skip or {})
        self.dedupe_key = dedupe_key
        if bias and constant is not None:
            raise ValueError("a tower appends either a bias or a constant, not both")
        self.featurizer = featurizer
        self.bias = keras.layers.Dense(1, kernel_initializer="zeros", name="bias") if bias else None
        self.constant = constant
        self.popularity_prior = bias
        if bias:
            self.prior_weight = self.add_weight(name="prior_weight", shape=(), initializer="ones")
        if not encoders:
            raise ValueError("a tower needs at least one feature encoder")
        self.encoders = dict(encoders)
        self.feature_names = sorted(self.encoders)
        self.l2_normalize = l2_normalize
        layers = []
        for width in hidden_dims:
            layers.append(keras.layers.Dense(width, activation="relu"))
            if dropout:
                layers.append(keras.layers.Dropout(dropout))
        single = len(self.encoders) == 1 and not hidden_dims
        if not (single and getattr(next(iter(self.encoders.values())), "dim", None) == output_dim):
            layers.append(keras.layers.Dense(output_dim))
        self.mlp = keras.Sequential(layers) if layers else None

    def get_config(self):
        """Describes the tower; towers are rebuilt from the run config, not from this."""
        return {"name": self.name, "features": self.feature_names, "l2_normalize": self.l2_normalize}

    def call(self, features, training=False):
        if not training or self.dedupe_key not in features or features[self.dedupe_key].shape.rank != 1:
            return self._embed(features, training)
        first, position = distinct_rows(features[self.dedupe_key])
        needed = {self.dedupe_key, *self.feature_names, *self.skip, "item_probability",
                  *getattr(self.featurizer, "input_names", ())}
        distinct = {name: tf.gather(value, first) for name, value in features.items() if name in needed}
        return tf.gather(self._embed(distinct, training), position)

    def _embed(self, features, training):
        if self.featurizer is not None:
            features = {**features, **self.featurizer(features, training=training)}
        missing = [n for n in self.feature_names if n not in features]
        if missing:
            raise ValueError(f"{self.name} needs features {missing}; got {sorted(features)}")
        parts = [self.encoders[n](features[n], training=training) for n in self.feature_names]
        x = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
        bias = self.bias(x) if self.bias is not None else None
        if bias is not None and self.popularity_prior:
            log_p = tf.math.log(tf.cast(features["item_probability"], tf.float32))[:, None]
            bias = bias + self.prior_weight * log_p
        if self.mlp is not None:
            x = self.mlp(x, training=training)
        for name in sorted(self.skip):
            x += tf.cast(self.skip[name](features[name], training=training), x.dtype)
        x = tf.math.l2_normalize(x, axis=-1) if self.l2_normalize else x
        if bias is not None:
            return tf.concat([x, bias], axis=-1)
        if self.constant is not None:
            return tf.concat([x, tf.fill([tf.shape(x)[0], 1], tf.cast(self.constant, x.dtype))], axis=-1)
        return x


def build_query_tower(dataset: RecDataset, vocabs: Vocabularies, train_users, config: RetrievalModelConfig,
                      item_vectors: dict | None = None) -> Tower:
    """User id embedding, plus user attributes when ``use_user_features``, plus
    the recent-history encoder when ``config.history`` is enabled (fed the
    catalogue's cached content vectors, ``item_vectors``, when given)."""
    encoders = {"user_id": IdEmbedding(vocabs["user_id"], config.id_embedding_dim,
                                       config.num_oov_buckets, config.embedding_l2, name="user_id")}
    if config.use_user_features:
        for column in dataset.user_categorical:
            if not vocabs.values.get(f"user_{column}"):
                continue  # no value in training (e.g. no users file): nothing to learn from it
            encoders[f"user_{column}"] = IdEmbedding(vocabs[f"user_{column}"], config.feature_embedding_dim,
                                                     name=f"user_{column}")
        users = dataset.users[dataset.users.user_id.isin(np.unique(train_users))]
        for column in dataset.user_numeric:
            values = users[column].to_numpy(np.float32)
            encoders[f"user_{column}"] = StandardizedNumber(values.mean(), values.std(), name=f"user_{column}")
    history = config.history
    if history.enabled:
        from tfrec.models.history_encoder import HistoryEncoder

        content = {}
        if history.use_content and item_vectors:
            content = {"content_ids": dataset.items.item_id.to_numpy(),
                       "content_vectors": np.concatenate(list(item_vectors.values()), axis=1)}
        encoders[HISTORY] = HistoryEncoder(vocabs["item_id"], history.dim, history.length, history.encoder,
                                           history.num_layers, history.num_heads, history.dropout,
                                           name=HISTORY, **content)
    skip = {"user_id": IdEmbedding(vocabs["user_id"], config.embedding_dim, config.num_oov_buckets,
                                   config.embedding_l2, name="user_id_skip")} if config.id_skip else None
    return Tower(encoders, config.hidden_dims, config.embedding_dim, config.dropout, config.l2_normalize,
                 constant=config.temperature if config.item_bias else None, skip=skip,
                 dedupe_key=None if history.enabled else "user_id", name="query_tower")


def build_candidate_tower(dataset: RecDataset, vocabs: Vocabularies, config: RetrievalModelConfig,
                          featurizer=None) -> Tower:
    """Item id embedding, plus categories and title words when ``use_item_features``,
    plus projected text and image vectors when ``config.content`` is enabled.

    Fusion is concatenation followed by the MLP: with modality dropout and a
    learned "missing" embedding per modality, it handles absent content without
    the extra parameters of a gate, which this data size does not support.
    ``featurizer`` (live encoders) computes the content vectors inside the
    tower; without it they must arrive as features (cached vectors).
    """
    from tfrec.models.content import VECTOR_FEATURES, modalities

    encoders = {"item_id": IdEmbedding(vocabs["item_id"], config.id_embedding_dim, config.num_oov_buckets,
                                       config.embedding_l2, config.id_dropout, name="item_id")}
    if config.use_item_features:
        for column in dataset.item_categorical:
            if vocabs.values.get(f"item_{column}"):  # no value in training: nothing to learn from it
                encoders[f"item_{column}"] = BagEmbedding(vocabs[f"item_{column}"], config.feature_embedding_dim,
                                                          name=f"item_{column}")
        if vocabs.values.get("item_title"):  # items without titles (e.g. no items file): left out
            encoders["item_title"] = BagEmbedding(vocabs["item_title"], config.feature_embedding_dim,
                                                  splitter="words", name="item_title")
    content = config.content
    if content.enabled:
        for modality in modalities(content):
            name = VECTOR_FEATURES[modality]
            encoders[name] = ContentProjection(content.projection_dim, content.modality_dropout, name=name)
    skip = {"item_id": IdEmbedding(vocabs["item_id"], config.embedding_dim, config.num_oov_buckets,
                                   config.embedding_l2, config.id_dropout, name="item_id_skip")} if config.id_skip else None
    return Tower(encoders, config.hidden_dims, config.embedding_dim, config.dropout, config.l2_normalize,
                 featurizer=featurizer, bias=config.item_bias, skip=skip, dedupe_key="item_id",
                 name="candidate_tower")
