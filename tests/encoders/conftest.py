"""Tiny encoders and sample image bytes shared by the encoder tests."""

import pytest

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

from tests.encoders.samples import sample_images


@pytest.fixture(scope="session")
def images() -> dict[str, bytes]:
    return sample_images()


@pytest.fixture(scope="session")
def tiny_text_encoder():
    from tfrec.encoders.text import TextEncoderConfig, build_text_encoder

    return build_text_encoder(TextEncoderConfig.tiny())


@pytest.fixture(scope="session")
def tiny_image_encoder():
    from tfrec.encoders.image import ImageEncoderConfig, build_image_encoder

    return build_image_encoder(ImageEncoderConfig.tiny())
