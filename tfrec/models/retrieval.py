"""The TFRS two-tower retrieval model.

Trained with in-batch softmax: every other item of the batch is a negative.
Popular items are in-batch negatives more often than a uniform sample
would make them, which biases the model against them; ``logq_correction``
subtracts log(sampling probability) from each candidate's logit to undo this
(Yi et al., RecSys 2019). ``remove_accidental_hits`` drops the in-batch
negatives that are the positive item itself (the same item twice in a batch).

Under a ``tf.distribute`` strategy with N replicas each replica sees only
its 1/N share of the global batch. With ``cross_replica_negatives`` (the
default) the candidate embeddings, ids and sampling probabilities of all
replicas are all-gathered inside ``compute_loss``, so every query is scored
against the candidates of the *whole* global batch, exactly as on one
device. The TFRS loss is a sum over queries and Keras sums gradients across
replicas, so the replica losses add up to the single-device loss of the
same global batch, and so do the gradients (``all_gather``'s gradient
all-reduces the upstream gradient back to the replica that owns each row).
"""

from __future__ import annotations

import contextlib

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from tfrec.models.towers import Tower

SAMPLING_PROBABILITY = "item_probability"


def gather_candidates(candidates: tf.Tensor, *extras: tf.Tensor | None):
    """Candidates (and aligned extras such as ids) of every replica, this replica's rows first.

    Outside a multi-replica context the inputs come back unchanged. The
    local rows are rotated to the front because ``tfrs.tasks.Retrieval``
    takes row i of the candidates as the positive of query i. Replicas may
    hold different numbers of rows (the last, partial batch).
    """
    if replicas_in_sync() <= 1:
        return (candidates, *extras)
    context = tf.distribute.get_replica_context()
    local_rows = tf.shape(candidates)[0]
    rows_per_replica = context.all_gather(tf.reshape(local_rows, [1]), axis=0)
    offset = tf.reduce_sum(rows_per_replica[: context.replica_id_in_sync_group])

    def gather(x):
        # One call per tensor (a batched gather packs its inputs into one dtype); the identity
        # places step inputs on this replica's device, which multi-worker collectives need.
        return None if x is None else tf.roll(context.all_gather(tf.identity(x), axis=0), -offset, axis=0)

    return (gather(candidates), *[gather(x) for x in extras])


@contextlib.contextmanager
def float32_policy():
    """Keras's global dtype policy set to float32 within the block (the loss stays float32
    under a ``mixed_float16`` policy)."""
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)


def replicas_in_sync() -> int:
    """Replicas computing one step together, seen from inside the step (1 outside ``strategy.run``)."""
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


def id_fingerprint(ids: tf.Tensor) -> tf.Tensor:
    """int64 fingerprints of string ids: all-gather moves numbers, not strings, between devices."""
    if ids.dtype == tf.string:
        return tf.strings.to_hash_bucket_fast(ids, 2**62)
    return tf.cast(ids, tf.int64)


class RetrievalModel(tfrs.Model):
    """Query tower · candidate tower, trained with ``tfrs.tasks.Retrieval``.

    Args:
      query_tower: maps the user features of a batch to ``[B, D]``.
      candidate_tower: maps the item features of a batch to ``[B, D]``.
      temperature: logits are divided by it; small values sharpen the softmax,
        which cosine-similarity (l2-normalised) towers need.
      logq_correction: use the ``item_probability`` feature to correct the
        popularity bias of in-batch negatives.
      remove_accidental_hits: mask in-batch negatives equal to the positive.
      cross_replica_negatives: with several replicas, score each query
        against the candidates of the whole global batch (see the module doc).
    """

    def __init__(self, query_tower: Tower, candidate_tower: Tower, temperature: float = 0.1,
                 logq_correction: bool = True, remove_accidental_hits: bool = True,
                 cross_replica_negatives: bool = True):
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.logq_correction = logq_correction
        self.remove_accidental_hits = remove_accidental_hits
        self.cross_replica_negatives = cross_replica_negatives
        with float32_policy():
            self.task = tfrs.tasks.Retrieval(
                temperature=temperature, remove_accidental_hits=remove_accidental_hits
            )

    def compute_loss(self, features, training=False):
        # float32 for the softmax even when the towers compute in float16 (mixed precision).
        queries = tf.cast(self.query_tower(features, training=training), tf.float32)
        candidates = tf.cast(self.candidate_tower(features, training=training), tf.float32)
        probability = features[SAMPLING_PROBABILITY] if self.logq_correction else None
        ids = features["item_id"] if self.remove_accidental_hits else None
        if self.cross_replica_negatives and replicas_in_sync() > 1:
            if ids is not None:
                ids = id_fingerprint(ids)
            candidates, probability, ids = gather_candidates(candidates, probability, ids)
        with float32_policy():  # the layers the task makes while it runs must not cast back to float16
            return self.task(
                queries,
                candidates,
                candidate_sampling_probability=probability,
                candidate_ids=ids,
                compute_metrics=False,
                compute_batch_metrics=False,
            )

    def train_step(self, inputs):
        """TFRS's train step, plus loss scaling when the optimizer is a ``LossScaleOptimizer``
        (mixed precision), which TFRS's own step leaves out."""
        optimizer = self.optimizer
        if not isinstance(optimizer, keras.mixed_precision.LossScaleOptimizer):
            return super().train_step(inputs)
        with tf.GradientTape() as tape:
            loss = self.compute_loss(inputs, training=True)
            regularization_loss = tf.reduce_sum([tf.reduce_sum(x) for x in self.losses])
            total_loss = loss + regularization_loss
            scaled_loss = optimizer.get_scaled_loss(total_loss)
        gradients = optimizer.get_unscaled_gradients(tape.gradient(scaled_loss, self.trainable_variables))
        optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        metrics = {metric.name: metric.result() for metric in self.metrics}
        metrics.update(loss=loss, regularization_loss=regularization_loss, total_loss=total_loss)
        return metrics
