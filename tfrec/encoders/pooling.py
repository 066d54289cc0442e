"""Masked mean pooling of token vectors into one sentence vector."""

import keras
from keras import ops


class MaskedMeanPooling(keras.layers.Layer):
    """Averages ``sequence`` [B, T, D] over positions where ``mask`` [B, T] is true -> [B, D].

    Padding must not dilute the average, which is why the mask is applied (this is also the
    pooling all-MiniLM-L6-v2 was trained with: [CLS] and [SEP] count, [PAD] does not). The
    divisor is clamped at 1, so an all-false row gives zeros rather than NaN.
    """

    def call(self, sequence, mask):
        weights = ops.cast(ops.expand_dims(mask, -1), sequence.dtype)  # [B, T, 1]
        total = ops.sum(sequence * weights, axis=1)  # [B, D]
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)  # [B, 1]
        return total / count

    def compute_output_shape(self, sequence_shape, mask_shape=None):
        return (sequence_shape[0], sequence_shape[2])
