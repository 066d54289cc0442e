"""Sample inputs for the encoder tests (also used by the fresh-process reload check)."""

import numpy as np

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)
import tensorflow as tf

SAMPLE_TEXTS = ["a great action movie", "", "the old man and the sea", "日本語のテキスト"]


def sample_images() -> dict[str, bytes]:
    """Named encoded images: two valid ones and every kind of bad input the encoder must absorb."""
    pixels = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    jpeg = tf.io.encode_jpeg(pixels).numpy()
    png = tf.io.encode_png(pixels).numpy()
    return {
        "jpeg": jpeg,
        "png": png,
        "missing": b"",
        "truncated_jpeg": jpeg[: len(jpeg) // 2],
        "jpeg_header_only": jpeg[:20],
        "png_magic_then_junk": b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
        "not_an_image": b"this is a text file",
    }
