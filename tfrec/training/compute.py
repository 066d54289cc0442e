"""Mixed precision and XLA for a training run, set for its duration and restored afterwards.

``mixed_float16`` computes in float16 with float32 variables: on GPUs with
tensor cores about twice the speed at half the activation memory. The
retrieval loss casts the tower outputs back to float32 for the softmax, and
the model's train step scales the loss (``LossScaleOptimizer``, which
``compile`` puts in place under this policy) so small gradients do not
underflow. On CPUs it runs, but slower.

XLA is switched on as auto-clustering rather than ``compile(jit_compile=True)``:
the towers look ids up in string vocabularies inside the graph, and string
ops cannot be XLA-compiled, so whole-step compilation fails; auto-clustering
compiles the numeric parts (MLPs, scores, softmax) and leaves the lookups
to the normal runtime. TensorFlow applies it on GPUs; on CPUs it is a no-op.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf
import tf_keras as keras


@contextlib.contextmanager
def compute_settings(mixed_precision: bool = False, jit_compile: bool = False):
    """Within the block: ``mixed_float16`` as the Keras policy and/or XLA auto-clustering."""
    policy = keras.mixed_precision.global_policy()
    jit = tf.config.optimizer.get_jit()
    try:
        if mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        if jit_compile:
            tf.config.optimizer.set_jit("autoclustering")
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        tf.config.optimizer.set_jit(jit or False)
