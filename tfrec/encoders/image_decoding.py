"""Encoded image bytes [B] -> fixed-size pixel batches, never failing on bad input.

Item catalogues contain missing pictures (empty string), zero-byte files, truncated downloads
and files that are not images at all. A served candidate encoder must still return an
embedding for such items, and a single bad file must not fail a whole training batch. TF's
decoders raise on bad data and a graph cannot catch exceptions, so decoding runs through a
small in-graph ``tf.data`` pipeline whose ``ignore_errors`` drops failing elements; every
element carries its batch index, and the survivors are scattered into a zero batch. Only core
TF ops are used, so the traced function saves into a SavedModel and runs in TF Serving.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# ImageNet statistics (RGB, in [0, 1] units): the timm/keras-hub EfficientNet-B0 checkpoints are
# trained with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# How a variant's checkpoint expects its 0-255 RGB input scaled:
#   "imagenet": (x / 255 - IMAGENET_MEAN) / IMAGENET_STD (B0 as keras-hub/timm train it);
#   "lite": (x - 127) / 128, Google's EfficientNet-Lite (its MEAN_RGB 127, STDDEV_RGB 128). With
#   ImageNet mean/std instead, Lite0 misreads pictures (the Jaws poster becomes a combination lock).
NORMALISATIONS = ("imagenet", "lite")


def _center_crop_resize(image: tf.Tensor, size: int) -> tf.Tensor:
    """uint8 [H, W, 3] -> float32 [size, size, 3]: square centre crop, then bilinear resize.

    Cropping first keeps the aspect ratio (posters and product shots are not square).
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    square = tf.image.crop_to_bounding_box(image, top, left, side, side)
    return tf.image.resize(tf.cast(square, tf.float32), [size, size], antialias=True)


def decode_images(encoded: tf.Tensor, image_size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Decodes a batch of encoded images without ever raising on bad bytes.

    Args:
        encoded: string [B], JPEG/PNG (also GIF first frame, BMP) file contents; "" = missing.
        image_size: output side length S.

    Returns:
        pixels: float32 [B, S, S, 3] in [0, 255], RGB; all zeros where decoding failed.
        valid: bool [B], true where the image decoded.
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    count = tf.shape(encoded)[0]

    def decode_one(index, data):
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        image.set_shape([None, None, 3])
        return index, _center_crop_resize(image, image_size)

    decoded = (
        tf.data.Dataset.from_tensor_slices((tf.range(count), encoded))
        .filter(lambda index, data: tf.strings.length(data) > 0)
        .map(decode_one)
        .ignore_errors()
        .batch(tf.cast(tf.maximum(count, 1), tf.int64))
    )

    def scatter(state, batch):
        pixels, valid = state
        indices, images = batch
        positions = indices[:, None]
        return (
            tf.tensor_scatter_nd_update(pixels, positions, images),
            tf.tensor_scatter_nd_update(valid, positions, tf.ones_like(indices, tf.bool)),
        )

    initial = (
        tf.zeros([count, image_size, image_size, 3], tf.float32),
        tf.zeros([count], tf.bool),
    )
    return decoded.reduce(initial, scatter)


def normalise(pixels: tf.Tensor, normalisation: str) -> tf.Tensor:
    """float32 [..., 3] RGB in [0, 255] -> the network input ``normalisation`` names."""
    if normalisation == "imagenet":
        mean = tf.constant(IMAGENET_MEAN, tf.float32)
        std = tf.constant(IMAGENET_STD, tf.float32)
        return (pixels / 255.0 - mean) / std
    if normalisation == "lite":
        return (pixels - 127.0) / 128.0
    raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")


class ImageBytesPreprocessor(keras.layers.Layer):
    """Encoded image bytes [B] -> (normalised float32 [B, S, S, 3], valid bool [B]).

    Pixels are scaled the way the backbone's checkpoint was trained (``normalisation``, one of
    :data:`NORMALISATIONS`; the image encoder takes it from the variant). Images that could not
    be decoded become all-zero inputs (the mean colour after normalisation), so they still get
    an embedding.
    """

    def __init__(self, image_size: int, normalisation: str = "imagenet", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"image_size must be an int >= 8, got {image_size!r}")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
        self.image_size = image_size
        self.normalisation = normalisation

    def call(self, encoded):
        encoded = tf.convert_to_tensor(encoded)
        if encoded.dtype != tf.string:
            raise TypeError(f"Image inputs must be encoded bytes (tf.string), got {encoded.dtype.name}")
        if encoded.shape.rank is not None and encoded.shape.rank != 1:
            raise ValueError(f"Image inputs must have shape [B], got {encoded.shape}")
        pixels, valid = decode_images(encoded, self.image_size)
        normalised = normalise(pixels, self.normalisation)
        normalised = tf.where(valid[:, None, None, None], normalised, 0.0)
        return normalised, valid

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "normalisation": self.normalisation}
