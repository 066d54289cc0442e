"""The TFRS ranking model: a DCN-v2 over user and item features, one head per task.

The user side (id + attributes) and the item side (id, categories, title
words and cached text/image content vectors) reuse the retrieval towers'
feature encoders, so both stages read features the same way. Their outputs
are concatenated, with optional activity and item-item co-occurrence features
(the candidate against the user's recent items), and fed to stacked DCN-v2 cross layers
(``tfrs.layers.dcn.Cross``, optionally low-rank) and a deep ReLU MLP, as in the
TFRS DCN tutorial. Heads:

* ``rating``: explicit rating regression (MSE, RMSE metric); with
  ``bias_terms`` the prediction is global mean + user bias + item bias + the
  network's output, the classic biased-MF decomposition that carries most of
  MovieLens' rating signal;
* ``engagement``: a logit for "the user engages with the item" (binary
  cross-entropy, AUC);
* ``listwise``: a score trained over a list of retrieved candidates
  (softmax cross-entropy or ListMLE, NDCG@10), as in the TFRS listwise tutorial.

Tasks can be trained alone or together with loss weights. A batch holds
either pairs (``item_id`` ``[B]``, from interaction rows) or lists
(``item_id`` ``[B, L]``, from retrieved candidates); lists are flattened to
pairs for scoring, so serving always scores pairs.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from tfrec.config import RankingModelConfig, RetrievalModelConfig
from tfrec.data.history import HISTORY
from tfrec.data.schema import RecDataset
from tfrec.data.vocabulary import Vocabularies
from tfrec.models.feature_encoders import IdEmbedding, StandardizedNumber
from tfrec.models.listwise import ListwiseLoss, NDCGMetric
from tfrec.models.towers import build_candidate_tower, build_query_tower

RATING, ENGAGEMENT, LISTWISE = "rating", "engagement", "listwise"
ENGAGED = "engaged"  # label feature: 1.0 when the user engaged with the item
RETRIEVAL_SCORE = "retrieval_score"  # optional pair feature: the first stage's score
SCORE = "score"  # the output two-stage serving orders by


def score_task(tasks) -> str:
    """The task whose output orders items in serving: listwise, else engagement, else rating."""
    for task in (LISTWISE, ENGAGEMENT, RATING):
        if task in tasks:
            return task
    raise ValueError(f"no known task in {sorted(tasks)}")


class RankingModel(tfrs.Model):
    """Scores (user, item) pairs; trained by one ``tfrs.tasks.Ranking`` per task.

    Args:
      user_encoders, item_encoders: feature name → layer mapping a ``[B]``
        feature to ``[B, d]`` (the retrieval towers' encoders).
      pair_encoders: encoders of features of the pair itself (the retrieval score).
      tasks: task name → loss weight.
      cross_layers, projection_dim: DCN-v2 cross stack depth and low rank (0: full).
      deep_dims, dropout, kernel_l2: the MLP after the cross stack.
      user_vocabulary, item_vocabulary, bias_l2, global_mean: the rating's
        bias terms (given ``bias_terms``).
      listwise_loss: ``softmax`` or ``listmle``.
      engagement_threshold: on pair batches, a rating at or above it is an engagement.
      activity: optional :class:`~tfrec.models.activity_features.ActivityFeatures`
        (when and how much the user and the item were active in training).
      item_item: optional :class:`~tfrec.models.item_item_features.ItemItemFeatures`
        (how the item co-occurs with the user's recent items; needs the history feature).
    """

    def __init__(self, user_encoders: dict, item_encoders: dict, tasks: dict, pair_encoders: dict | None = None,
                 cross_layers: int = 1, projection_dim: int = 0, deep_dims=(192, 192), dropout: float = 0.0,
                 kernel_l2: float = 0.0, bias_terms: bool = True, user_vocabulary=(), item_vocabulary=(),
                 bias_l2: float = 0.0, global_mean: float = 0.0, listwise_loss: str = "softmax",
                 engagement_threshold: float = 4.0, num_oov: int = 1, activity=None, item_item=None):
        super().__init__()
        self.activity, self.item_item = activity, item_item
        if not user_encoders or not item_encoders:
            raise ValueError("a ranking model needs at least one user and one item encoder")
        self.user_encoders, self.item_encoders = dict(user_encoders), dict(item_encoders)
        self.pair_encoders = dict(pair_encoders or {})
        self.task_weights = {name: float(weight) for name, weight in tasks.items()}
        self.engagement_threshold = float(engagement_threshold)
        regularizer = keras.regularizers.l2(kernel_l2) if kernel_l2 else None
        self.crosses = [tfrs.layers.dcn.Cross(projection_dim=projection_dim or None,
                                              kernel_initializer="glorot_uniform",
                                              kernel_regularizer=regularizer, name=f"cross_{i}")
                        for i in range(cross_layers)]
        deep = []
        for width in deep_dims:
            deep.append(keras.layers.Dense(width, activation="relu", kernel_regularizer=regularizer))
            if dropout:
                deep.append(keras.layers.Dropout(dropout))
        self.deep = keras.Sequential(deep, name="deep") if deep else None
        # With the retrieval score as input, each non-rating head starts as the retrieval order
        # (a learned weight on the standardised score, the network's output zero) and learns
        # corrections to it: a ranker trained on a few thousand lists then never begins by
        # scrambling what retrieval already knows.
        # The item-item features reach the same heads linearly too (weights from zero): re-ranking by
        # retrieval score plus a weighted co-occurrence score is the first correction worth learning.
        self.score_skip, self.item_item_skip = {}, {}
        skip = RETRIEVAL_SCORE in self.pair_encoders
        self.heads = {name: keras.layers.Dense(1, name=f"{name}_head",
                                               kernel_initializer="zeros" if skip and name != RATING else "glorot_uniform")
                      for name in self.task_weights}
        if skip:
            self.score_skip = {name: self.add_weight(name=f"{name}_retrieval_score_weight", shape=(),
                                                     initializer=keras.initializers.Constant(1.0))
                               for name in self.task_weights if name != RATING}
        if item_item is not None:
            self.item_item_skip = {name: keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros",
                                                            name=f"{name}_item_item_weights")
                                   for name in self.task_weights if name != RATING}
        self.global_mean = float(global_mean)
        self.user_bias = self.item_bias = None
        if bias_terms and RATING in self.task_weights:
            self.user_bias = IdEmbedding(user_vocabulary, 1, num_oov, bias_l2, name="user_bias")
            self.item_bias = IdEmbedding(item_vocabulary, 1, num_oov, bias_l2, name="item_bias")
            for bias in (self.user_bias, self.item_bias):
                bias.embedding.embeddings_initializer = keras.initializers.Zeros()
        self.tasks = {}
        if RATING in self.task_weights:
            self.tasks[RATING] = tfrs.tasks.Ranking(
                loss=keras.losses.MeanSquaredError(),
                metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
        if ENGAGEMENT in self.task_weights:
            self.tasks[ENGAGEMENT] = tfrs.tasks.Ranking(
                loss=keras.losses.BinaryCrossentropy(from_logits=True),
                metrics=[keras.metrics.AUC(from_logits=True, name="auc")])
        if LISTWISE in self.task_weights:
            self.tasks[LISTWISE] = tfrs.tasks.Ranking(loss=ListwiseLoss(listwise_loss),
                                                      metrics=[NDCGMetric(10, name="ndcg_at_10")])
        self.score_task = score_task(self.task_weights)

    @property
    def feature_names(self) -> list[str]:
        return sorted({*self.user_encoders, *self.item_encoders, *self.pair_encoders})

    @property
    def history_length(self) -> int:
        """Recent items the history encoder reads per pair (0: the ranker reads no history)."""
        return self.user_encoders[HISTORY].length if HISTORY in self.user_encoders else 0

    def call(self, features, training=False) -> dict[str, tf.Tensor]:
        """``[B]`` pairs → ``{task: [B]}``: predicted rating, engagement logit, listwise score."""
        missing = [n for n in self.feature_names if n not in features]
        if missing:
            raise ValueError(f"ranking model needs features {missing}; got {sorted(features)}")
        parts = [encoders[name](features[name], training=training)
                 for encoders in (self.user_encoders, self.item_encoders, self.pair_encoders)
                 for name in sorted(encoders)]
        if self.activity is not None:
            parts.append(self.activity(features["user_id"], features["item_id"]))
        if self.item_item is not None:
            related = self.item_item(features[HISTORY], features["item_id"])
            parts.append(related)
        x0 = tf.concat(parts, axis=-1)
        x = x0
        for cross in self.crosses:
            x = cross(x0, x)
        if self.deep is not None:
            x = self.deep(x, training=training)
        out = {name: tf.squeeze(head(x), axis=-1) for name, head in self.heads.items()}
        if self.score_skip:
            standardized = tf.squeeze(self.pair_encoders[RETRIEVAL_SCORE](features[RETRIEVAL_SCORE]), -1)
            for name, weight in self.score_skip.items():
                out[name] += weight * tf.cast(standardized, out[name].dtype)
        for name, weights in self.item_item_skip.items():
            out[name] += tf.squeeze(weights(related), -1)
        if RATING in out:
            rating = out[RATING] + self.global_mean
            if self.user_bias is not None:
                rating += tf.squeeze(self.user_bias(features["user_id"]), -1)
                rating += tf.squeeze(self.item_bias(features["item_id"]), -1)
            out[RATING] = rating
        return out

    def compute_loss(self, features, training=False) -> tf.Tensor:
        item_ids = features["item_id"]
        is_list = item_ids.shape.rank == 2
        if is_list:
            features, shape = flatten_lists(features)
        outputs = self(features, training=training)
        total = tf.constant(0.0)
        for name, task in self.tasks.items():
            if name == RATING:
                # On lists only the targets have a rating.
                weight = features[ENGAGED] if is_list else None
                loss = task(tf.cast(features[RATING], tf.float32), outputs[RATING], sample_weight=weight)
            elif name == ENGAGEMENT:
                labels = (features[ENGAGED] if is_list
                          else tf.cast(features[RATING] >= self.engagement_threshold, tf.float32))
                loss = task(tf.cast(labels, tf.float32), outputs[ENGAGEMENT])
            else:
                if not is_list:
                    raise ValueError("the listwise task needs list batches (item_id [B, L])")
                loss = task(tf.reshape(features[ENGAGED], shape), tf.reshape(outputs[LISTWISE], shape))
            total += self.task_weights[name] * loss
        return total

    def serving_outputs(self, outputs: dict) -> dict[str, tf.Tensor]:
        """What the export returns: ``rating``, ``engagement`` (a probability),
        ``listwise`` (a score) for the model's tasks, and ``score``, the one two-stage orders by."""
        out = dict(outputs)
        if ENGAGEMENT in out:
            out[ENGAGEMENT] = tf.sigmoid(out[ENGAGEMENT])
        out[SCORE] = out[self.score_task]
        return out


def flatten_lists(features: dict) -> tuple[dict, tf.Tensor]:
    """``[B, L]`` list features → ``[B*L]`` pairs; per-user features (ids, attributes, the
    ``[B, H]`` history) are repeated L times."""
    shape = tf.shape(features["item_id"])
    size = shape[1]
    flat = {}
    for name, value in features.items():
        per_user = name in ("user_id", HISTORY) or name.startswith("user_")
        if value.shape.rank is not None and value.shape.rank >= 2 and not per_user:
            flat[name] = tf.reshape(value, tf.concat([[-1], tf.shape(value)[2:]], axis=0))
        else:
            flat[name] = tf.repeat(value, size, axis=0)
    return flat, shape


def ranking_encoders(dataset: RecDataset, vocabs: Vocabularies, config: RankingModelConfig,
                     train_users, item_vectors: dict | None = None) -> tuple[dict, dict]:
    """The retrieval towers' user and item encoders (the history encoder among the user's
    when ``config.history`` is on), built with the ranking config's sizes."""
    tower_config = RetrievalModelConfig(
        id_embedding_dim=config.id_embedding_dim, feature_embedding_dim=config.feature_embedding_dim,
        hidden_dims=[], use_user_features=config.use_user_features, use_item_features=config.use_item_features,
        num_oov_buckets=config.num_oov_buckets, embedding_l2=config.embedding_l2, content=config.content,
        history=config.history)
    users = build_query_tower(dataset, vocabs, train_users, tower_config, item_vectors).encoders
    items = build_candidate_tower(dataset, vocabs, tower_config).encoders
    return users, items


def build_ranking_model(dataset: RecDataset, vocabs: Vocabularies, config: RankingModelConfig, train,
                        retrieval_score_stats: tuple[float, float] | None = None,
                        item_vectors: dict | None = None) -> RankingModel:
    """The ranking model of a config, for a data set and its training split (``train`` rows).

    Its item-item relations (``config.item_item``) start empty: fit them to the interactions
    the model is to know (``model.item_item.fit``)."""
    user_encoders, item_encoders = ranking_encoders(dataset, vocabs, config, train.user_id.to_numpy(),
                                                    item_vectors)
    pair = {}
    if config.use_retrieval_score:
        if retrieval_score_stats is None:
            raise ValueError("use_retrieval_score needs the training lists' retrieval score mean and deviation")
        pair[RETRIEVAL_SCORE] = StandardizedNumber(*retrieval_score_stats, name=RETRIEVAL_SCORE)
    ratings = train.rating.to_numpy(np.float32)
    activity = None
    if config.activity_features:
        from tfrec.models.activity_features import ActivityFeatures

        activity = ActivityFeatures(train, name="activity")
    item_item = None
    if config.item_item.enabled:
        from tfrec.models.item_item_features import ItemItemFeatures

        c = config.item_item
        item_item = ItemItemFeatures(dataset.items.item_id.astype(str).to_numpy(), c.neighbours, c.ease_l2,
                                     c.window, c.recent, name="item_item")
    return RankingModel(
        user_encoders, item_encoders, config.tasks, pair, cross_layers=config.cross_layers,
        projection_dim=config.projection_dim, deep_dims=config.deep_dims, dropout=config.dropout,
        kernel_l2=config.kernel_l2, bias_terms=config.bias_terms, user_vocabulary=vocabs["user_id"],
        item_vocabulary=vocabs["item_id"], bias_l2=config.bias_l2,
        global_mean=float(ratings.mean()) if len(ratings) else 0.0, listwise_loss=config.listwise_loss,
        engagement_threshold=config.engagement_threshold, num_oov=config.num_oov_buckets, activity=activity,
        item_item=item_item)
