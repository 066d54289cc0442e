"""Why an item is recommended: the history item whose removal lowers its score the most.

Each recommendation of a model that reads the user's recent items carries a
reason a person can read ("because you watched Alien"): the one item of the
history that, taken out, costs that recommendation the most score. It is found
by removing each history item in turn and scoring again (the older items move
up a place, a pad comes in at the oldest end: exactly the history a client
would send without that item), so the reason is a measured effect on the
model's own score, not a guess beside it. It holds for cold items too: a new
item is scored from its content like any other, so its reason is the history
item its content answers to.

Outputs, added to the signatures of models with a history:
``because`` (string, the history item's id; "" when no item of the history
raises the score, e.g. an empty or all-unknown history) and ``because_score``
(float, how much lower the recommendation scores without it; 0 with "").
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrec.data.history import PAD

BECAUSE, BECAUSE_SCORE = "because", "because_score"


def fixed_length(history: tf.Tensor, length: int) -> tf.Tensor:
    """``history [B, any]`` as exactly ``[B, length]``: the latest ``length`` items, left-padded."""
    padded = tf.concat([tf.fill([tf.shape(history)[0], length], PAD), history], axis=1)
    return padded[:, -length:]


def without_each(history: tf.Tensor, length: int) -> tf.Tensor:
    """``[B, length]`` → ``[B * length, length]``: row ``b * length + j`` is history ``b`` without item ``j``."""
    rows = np.array([[0] + [i + 1 for i in range(length) if i != j] for j in range(length)], np.int32)
    padded = tf.concat([tf.fill([tf.shape(history)[0], 1], PAD), history], axis=1)  # column 0: the pad
    return tf.reshape(tf.gather(padded, rows, axis=1), [-1, length])


def repeat_rows(features: dict, times: int) -> dict:
    """Every feature's rows each repeated ``times`` times, in place (b, b, ..., b+1, ...)."""
    return {name: tf.repeat(value, times, axis=0) for name, value in features.items()}


def reasons(history: tf.Tensor, scores: tf.Tensor, scores_without: tf.Tensor) -> dict:
    """The largest score drop per recommendation and the history item behind it.

    ``history [B, L]``; ``scores [B, ...]`` as served; ``scores_without
    [B, L, ...]``: the same scores with history item ``l`` removed. Returns
    ``because`` and ``because_score`` shaped like ``scores``; padding never
    wins, and a drop of 0 or less names nothing.
    """
    extra = len(scores.shape) - 1
    drops = tf.expand_dims(scores, 1) - scores_without  # [B, L, ...]
    real = tf.not_equal(history, PAD)
    real = tf.reshape(real, tf.concat([tf.shape(real), tf.ones([extra], tf.int32)], 0))
    drops = tf.where(tf.broadcast_to(real, tf.shape(drops)), drops, tf.fill(tf.shape(drops), -np.inf))
    best = tf.argmax(drops, axis=1, output_type=tf.int32)
    drop = tf.reduce_max(drops, axis=1)
    flat_best = tf.reshape(best, [tf.shape(best)[0], -1])
    named = tf.reshape(tf.gather(history, flat_best, batch_dims=1), tf.shape(best))
    helps = tf.math.is_finite(drop) & (drop > 0) & tf.math.is_finite(scores)
    return {BECAUSE: tf.where(helps, named, tf.fill(tf.shape(named), PAD)),
            BECAUSE_SCORE: tf.where(helps, drop, tf.zeros_like(drop))}
