"""The Keras 3 -> Keras 2 bridge: content encoders as TF-Hub reusable SavedModels.

TFRS towers are Keras 2 (``tf_keras``); keras-hub encoders are Keras 3. A Keras 3 layer cannot
sit inside a Keras 2 model, but both run on TensorFlow, so an encoder is saved as a TF-Hub
*reusable SavedModel* -- an object with

  * ``variables``: every ``tf.Variable`` it uses (including batch-norm statistics and dropout
    seed state),
  * ``trainable_variables``: the subset that fine-tuning may change,
  * ``regularization_losses``: zero-argument callables returning scalar losses (none here),
  * ``__call__(inputs, training)``: a ``tf.function`` from strings/bytes [B] to float [B, D],
    traced once for ``training=False`` and once for ``training=True`` so dropout and batch
    norm behave correctly in each mode,

and is loaded into Keras 2 with ``hub.KerasLayer(path, trainable=...)``. After loading, only
plain TensorFlow variables and graphs are left, which Keras 2 optimisers update directly.
"""

from __future__ import annotations

import os

import tfrec  # noqa: F401  (selects Keras 2 for tf.keras before TensorFlow is imported)

import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: F401  (registers the tokenizer ops a saved text encoder needs)

from tfrec.errors import MissingFileError

INPUT_SPEC = tf.TensorSpec([None], tf.string, name="inputs")


class EncoderHubModule(tf.Module):
    """Wraps a Keras 3 encoder (strings/bytes [B] -> float [B, D]) in the reusable-SavedModel API.

    ``tf.Module`` derives ``variables`` and ``trainable_variables`` as read-only properties;
    the reusable-SavedModel convention needs them as stored lists (so they survive saving), so
    the class attributes below shadow those properties.
    """

    variables = None
    trainable_variables = None

    def __init__(self, encoder, name: str | None = None):
        super().__init__(name=name)
        if not callable(encoder):
            raise TypeError(f"encoder must be a callable Keras model, got {type(encoder).__name__}")
        self.encoder = encoder
        # Keras 3 variables save as (and reload as) plain tf.Variables. Listing them, rather
        # than the tf.Variable each one wraps, keeps every weight stored once in the export.
        self.variables = list(encoder.variables)
        trainable_ids = {id(v) for v in encoder.trainable_variables}
        self.trainable_variables = [v for v in self.variables if id(v) in trainable_ids]
        self.regularization_losses = []

    @tf.function
    def __call__(self, inputs, training=False):
        """inputs: string [B] (text, or encoded image bytes) -> float32 [B, D]."""
        return tf.cast(self.encoder(inputs, training=training), tf.float32)


def export_hub_module(encoder, path: str) -> str:
    """Saves ``encoder`` as a TF-Hub reusable SavedModel at ``path`` and returns ``path``.

    The encoder must accept a string tensor of shape [B] (raw text, or encoded JPEG/PNG bytes)
    and return [B, D]. Both ``training`` values are traced before saving; a ``serving_default``
    signature (``inputs`` -> ``outputs``, inference mode) is added for plain SavedModel users.
    """
    path = os.fspath(path)
    if os.path.exists(path) and os.listdir(path):
        raise FileExistsError(f"Refusing to overwrite the non-empty directory {path}")
    module = EncoderHubModule(encoder)
    module.__call__.get_concrete_function(INPUT_SPEC, training=True)
    inference = module.__call__.get_concrete_function(INPUT_SPEC, training=False)

    @tf.function(input_signature=[INPUT_SPEC])
    def serve(inputs):
        return {"outputs": inference(inputs)}

    tf.saved_model.save(module, path, signatures={"serving_default": serve})
    return path


def hub_layer(path: str, trainable: bool = False, name: str | None = None) -> hub.KerasLayer:
    """Loads an exported encoder as a Keras 2 layer: strings [B] -> float [B, D].

    With ``trainable=True`` the module's ``trainable_variables`` become the layer's trainable
    weights and ``fit`` fine-tunes them (and runs the ``training=True`` trace); with
    ``trainable=False`` the encoder is frozen and always runs in inference mode.
    """
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise MissingFileError(f"No SavedModel at {path} (expected {path}/saved_model.pb)")
    layer = hub.KerasLayer(path, trainable=trainable, name=name, dtype=tf.string)
    if trainable and not layer.trainable_weights:
        raise ValueError(
            f"{path} was exported without trainable weights, so it cannot be fine-tuned; "
            "export an encoder built with trainable=True in its config, or use trainable=False."
        )
    return layer
