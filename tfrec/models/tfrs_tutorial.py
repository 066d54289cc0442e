"""The TensorFlow Recommenders basic-retrieval tutorial model, as a baseline in the project's harness.

The TFRS "Recommending movies: retrieval" tutorial (tensorflow/recommenders,
``docs/examples/basic_retrieval.ipynb``) trains the simplest two-tower model:
a user-id and a movie embedding of dimension 32 (``StringLookup`` +
``Embedding``, two extra rows for the mask and out-of-vocabulary tokens), a
default ``tfrs.tasks.Retrieval`` (in-batch softmax, no temperature, no logQ
correction, no accidental-hit removal), Adagrad with learning rate 0.1,
training data shuffled once, batched by 8192 and cached, and 3 epochs of
``model.fit``. It is what most TFRS users start from, so it is the reference
the project's own retrieval model is measured against.

Differences from the notebook, none of which changes training:
  * items are keyed by the catalogue's ``item_id`` instead of the movie title
    (titles are not unique in MovieLens);
  * the ``FactorizedTopK`` metric is left out of the task: it only reports
    sampled-free top-k accuracy during ``fit``, and the project evaluates with
    its own full-ranking harness instead;
  * the data come from the project's split (e.g. temporal leave-last-out),
    not the notebook's random 80/20 split; the user vocabulary is the
    training users, the item vocabulary the whole catalogue (the notebook's
    ``movies`` table).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from tfrec.models.catalogue import catalogue_index

__all__ = ["TutorialRetrievalModel", "TFRSTutorialBaseline"]


class TutorialRetrievalModel(tfrs.Model):
    """The notebook's ``MovielensModel``: two id towers and a default retrieval task."""

    def __init__(self, user_model: keras.Model, movie_model: keras.Model):
        super().__init__()
        self.user_model = user_model
        self.movie_model = movie_model
        self.task = tfrs.tasks.Retrieval()

    def compute_loss(self, features, training=False) -> tf.Tensor:
        user_embeddings = self.user_model(features["user_id"])
        positive_movie_embeddings = self.movie_model(features["item_id"])
        return self.task(user_embeddings, positive_movie_embeddings)


def _id_tower(vocabulary: np.ndarray, dim: int) -> keras.Model:
    return keras.Sequential([
        keras.layers.StringLookup(vocabulary=list(vocabulary)),
        # Two extra rows: the mask token and the out-of-vocabulary bucket.
        keras.layers.Embedding(len(vocabulary) + 2, dim),
    ])


class TFRSTutorialBaseline:
    """Trains the tutorial model on a training frame and scores the whole catalogue.

    Usage::

        model = TFRSTutorialBaseline(item_ids, seed=0).fit(split.train)
        evaluate(model.score, eval_set)

    Args:
      item_ids: the catalogue (the item vocabulary and the scored columns); unique.
      embedding_dim, learning_rate, batch_size, epochs: the tutorial's
        32, 0.1 (Adagrad), 8192 and 3 by default.
      shuffle_buffer: the tutorial's 100,000-row shuffle buffer.
      seed: seeds weight initialisation and the shuffle.
      verbose: passed to ``model.fit``.

    Attributes (after :meth:`fit`):
      model: the trained :class:`TutorialRetrievalModel`.
      history: ``model.fit``'s ``History.history`` (per-epoch loss).
    """

    def __init__(
        self,
        item_ids: Sequence[str],
        embedding_dim: int = 32,
        learning_rate: float = 0.1,
        batch_size: int = 8192,
        epochs: int = 3,
        shuffle_buffer: int = 100_000,
        seed: int = 0,
        verbose: int = 0,
    ):
        self.item_ids = catalogue_index(item_ids)
        for name, value in (("embedding_dim", embedding_dim), ("batch_size", batch_size),
                            ("epochs", epochs), ("shuffle_buffer", shuffle_buffer)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
            raise ValueError(f"learning_rate must be a positive number; got {learning_rate!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer; got {seed!r}")
        self.embedding_dim, self.learning_rate = int(embedding_dim), float(learning_rate)
        self.batch_size, self.epochs = int(batch_size), int(epochs)
        self.shuffle_buffer, self.seed, self.verbose = int(shuffle_buffer), int(seed), verbose
        self.model: TutorialRetrievalModel | None = None
        self.history: dict | None = None
        self._item_embeddings: tf.Tensor | None = None

    def fit(self, interactions: pd.DataFrame) -> "TFRSTutorialBaseline":
        """Trains on every (user_id, item_id) row of ``interactions`` with ``model.fit``.

        Rows whose item is outside the catalogue are dropped (their item would
        only train the shared out-of-vocabulary row).
        """
        if not isinstance(interactions, pd.DataFrame):
            raise ValueError(f"interactions must be a DataFrame; got {type(interactions).__name__}")
        missing = [c for c in ("user_id", "item_id") if c not in interactions.columns]
        if missing:
            raise ValueError(f"interactions is missing column(s) {missing}; it has {list(interactions.columns)}")
        users = interactions["user_id"].astype(str).to_numpy(dtype=object)
        items = interactions["item_id"].astype(str).to_numpy(dtype=object)
        known = self.item_ids.get_indexer(items) >= 0
        if not known.any():
            raise ValueError(f"none of the {len(interactions)} interactions has an item in the catalogue")
        users, items = users[known], items[known]

        keras.utils.set_random_seed(self.seed)
        user_vocabulary = np.unique(users.astype(str))
        self.model = TutorialRetrievalModel(
            _id_tower(user_vocabulary, self.embedding_dim),
            _id_tower(np.asarray(self.item_ids, dtype=str), self.embedding_dim),
        )
        self.model.compile(optimizer=keras.optimizers.Adagrad(learning_rate=self.learning_rate))
        train = tf.data.Dataset.from_tensor_slices({"user_id": users.astype(str), "item_id": items.astype(str)})
        # As in the tutorial: shuffled once (cache() freezes the first pass), batched, cached.
        cached_train = train.shuffle(self.shuffle_buffer, seed=self.seed).batch(self.batch_size).cache()
        self.history = self.model.fit(cached_train, epochs=self.epochs, verbose=self.verbose).history
        self._item_embeddings = self.model.movie_model(tf.constant(np.asarray(self.item_ids, dtype=str)))
        return self

    def score(self, user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """``[len(user_ids), num_items]`` float32 dot products of user and item embeddings.

        Users outside the training vocabulary share the (untrained) OOV row,
        as in the tutorial.
        """
        if self.model is None:
            raise ValueError("TFRSTutorialBaseline.score called before fit()")
        ids = np.atleast_1d(np.asarray(user_ids, dtype=object)).astype(str)
        queries = self.model.user_model(tf.constant(ids))
        return tf.matmul(queries, self._item_embeddings, transpose_b=True).numpy().astype(np.float32)

    __call__ = score
