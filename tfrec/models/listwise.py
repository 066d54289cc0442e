"""Listwise losses and NDCG for lists of scored candidates, in plain TensorFlow.

The TFRS listwise tutorial trains on ``[lists, list_size]`` labels and scores
with TensorFlow Ranking's losses and NDCG metric. TensorFlow Ranking is not a
dependency of this project, so the two losses it uses most (softmax
cross-entropy and ListMLE) and NDCG@k are implemented here with the same
conventions: labels are graded relevances >= 0, higher scores rank first.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def softmax_list_loss(labels: tf.Tensor, scores: tf.Tensor) -> tf.Tensor:
    """Per-list softmax cross-entropy against the label distribution, ``[B]``.

    Lists without any relevant item contribute zero.
    """
    labels = tf.cast(labels, scores.dtype)
    total = tf.reduce_sum(labels, axis=-1, keepdims=True)
    target = tf.math.divide_no_nan(labels, total)
    return -tf.reduce_sum(target * tf.nn.log_softmax(scores, axis=-1), axis=-1)


def listmle_loss(labels: tf.Tensor, scores: tf.Tensor, seed: int | None = None) -> tf.Tensor:
    """Per-list ListMLE (Xia et al. 2008): the negative log-likelihood, under a
    Plackett-Luce model of the scores, of the permutation that sorts the labels
    (ties broken at random each call), ``[B]``."""
    labels = tf.cast(labels, scores.dtype)
    noise = tf.random.uniform(tf.shape(labels), maxval=1e-3, seed=seed, dtype=scores.dtype)
    order = tf.argsort(labels + noise, axis=-1, direction="DESCENDING")
    sorted_scores = tf.gather(scores, order, batch_dims=1)
    # log sum_{j >= i} exp(s_j), for every position i.
    tail = tf.math.cumulative_logsumexp(sorted_scores, axis=-1, reverse=True)
    return tf.reduce_sum(tail - sorted_scores, axis=-1)


LISTWISE_LOSSES = {"softmax": softmax_list_loss, "listmle": listmle_loss}


class ListwiseLoss(keras.losses.Loss):
    """A Keras loss over ``[B, L]`` labels and scores (one value per list, averaged)."""

    def __init__(self, kind: str = "softmax", name: str | None = None):
        if kind not in LISTWISE_LOSSES:
            raise ValueError(f"listwise loss must be one of {sorted(LISTWISE_LOSSES)}, got {kind!r}")
        super().__init__(name=name or f"{kind}_list_loss")
        self.kind = kind

    def call(self, y_true, y_pred):
        return LISTWISE_LOSSES[self.kind](y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


def ndcg_at_k(labels: tf.Tensor, scores: tf.Tensor, k: int) -> tf.Tensor:
    """``[B]`` NDCG@k with gain ``2^label - 1``; lists without relevant items score 0.

    Ties in ``scores`` keep list order (``tf.math.top_k`` is stable).
    """
    labels = tf.cast(labels, tf.float32)
    k = tf.minimum(k, tf.shape(labels)[-1])
    discounts = 1.0 / tf.math.log(tf.cast(tf.range(k), tf.float32) + 2.0) * tf.math.log(2.0)
    _, by_score = tf.math.top_k(tf.cast(scores, tf.float32), k=k)
    dcg = tf.reduce_sum((tf.pow(2.0, tf.gather(labels, by_score, batch_dims=1)) - 1.0) * discounts, axis=-1)
    ideal, _ = tf.math.top_k(labels, k=k)
    idcg = tf.reduce_sum((tf.pow(2.0, ideal) - 1.0) * discounts, axis=-1)
    return tf.math.divide_no_nan(dcg, idcg)


class NDCGMetric(keras.metrics.Mean):
    """Mean NDCG@k over lists: the listwise task's metric."""

    def __init__(self, k: int = 10, name: str | None = None, **kwargs):
        super().__init__(name=name or f"ndcg_at_{k}", **kwargs)
        self.k = k

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(ndcg_at_k(y_true, y_pred, self.k), sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "k": self.k}
