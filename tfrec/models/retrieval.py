"""The TFRS two-tower retrieval model.

Trained with in-batch softmax: every other item of the batch is a negative.
Popular items are in-batch negatives more often than a uniform sample
would make them, which biases the model against them; ``logq_correction``
subtracts log(sampling probability) from each candidate's logit to undo this
(Yi et al., RecSys 2019). ``remove_accidental_hits`` drops the in-batch
negatives that are the positive item itself (the same item twice in a batch).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.models.towers import Tower

SAMPLING_PROBABILITY = "item_probability"


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
    """

    def __init__(self, query_tower: Tower, candidate_tower: Tower, temperature: float = 0.1,
                 logq_correction: bool = True, remove_accidental_hits: bool = True):
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.logq_correction = logq_correction
        self.remove_accidental_hits = remove_accidental_hits
        self.task = tfrs.tasks.Retrieval(
            temperature=temperature, remove_accidental_hits=remove_accidental_hits
        )

    def compute_loss(self, features, training=False):
        queries = self.query_tower(features, training=training)
        candidates = self.candidate_tower(features, training=training)
        return self.task(
            queries,
            candidates,
            candidate_sampling_probability=features[SAMPLING_PROBABILITY] if self.logq_correction else None,
            candidate_ids=features["item_id"] if self.remove_accidental_hits else None,
            compute_metrics=False,
            compute_batch_metrics=False,
        )
