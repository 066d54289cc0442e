"""Image encoder: encoded bytes in, finite [B, D] embeddings out, whatever the bytes are."""

import logging

import numpy as np
import pytest
import tensorflow as tf

from tfrec.encoders.image import ImageEncoderConfig, build_image_encoder
from tfrec.encoders.image_decoding import decode_images
from tfrec.errors import ConfigError

VALID = {"jpeg", "png"}


def test_config_validates_and_round_trips(tmp_path):
    with pytest.raises(ValueError, match="variant"):
        ImageEncoderConfig(variant="b9")
    with pytest.raises(ValueError, match="image_size"):
        ImageEncoderConfig(image_size=4)
    missing = ImageEncoderConfig(weights=str(tmp_path / "missing.weights.h5"))  # checked when built, not read
    with pytest.raises(ConfigError, match="missing.weights.h5 does not exist"):
        build_image_encoder(missing)
    config = ImageEncoderConfig.tiny()
    assert ImageEncoderConfig.from_config(config.get_config()) == config


def test_every_input_gets_a_finite_embedding(tiny_image_encoder, images):
    names = list(images)
    out = tiny_image_encoder(tf.constant([images[n] for n in names])).numpy()
    assert out.shape == (len(names), 32)
    assert np.isfinite(out).all()


def test_valid_mask_marks_only_decodable_images(tiny_image_encoder, images):
    names = list(images)
    _, valid = tiny_image_encoder.preprocessor(tf.constant([images[n] for n in names]))
    assert dict(zip(names, valid.numpy().tolist())) == {n: n in VALID for n in names}


def test_batch_of_only_bad_images(tiny_image_encoder):
    out = tiny_image_encoder(tf.constant([b"", b"xx"])).numpy()
    assert out.shape == (2, 32) and np.isfinite(out).all()


def test_empty_batch(tiny_image_encoder):
    assert tiny_image_encoder(tf.constant([], tf.string)).shape == (0, 32)


def test_decoding_keeps_colours_and_size():
    red = np.zeros((10, 30, 3), np.uint8)
    red[..., 0] = 200
    pixels, valid = decode_images(tf.constant([tf.io.encode_png(red).numpy(), b""]), 16)
    assert pixels.shape == (2, 16, 16, 3)
    assert valid.numpy().tolist() == [True, False]
    np.testing.assert_allclose(pixels[0].numpy(), np.broadcast_to([200.0, 0.0, 0.0], (16, 16, 3)), atol=1e-3)
    assert not pixels[1].numpy().any()


def test_zero_invalid_gives_zero_embeddings(images):
    encoder = build_image_encoder(ImageEncoderConfig.tiny(zero_invalid=True))
    out = encoder(tf.constant([images["jpeg"], images["missing"], images["not_an_image"]])).numpy()
    assert np.abs(out[0]).sum() > 0
    assert not out[1:].any()


def test_random_initialisation_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="tfrec.encoders.image"):
        build_image_encoder(ImageEncoderConfig.tiny())
    assert "RANDOM initialisation" in caplog.text


def test_local_weights_file_is_loaded(tiny_image_encoder, images, tmp_path):
    path = str(tmp_path / "tiny.weights.h5")
    tiny_image_encoder.backbone.save_weights(path)
    loaded = build_image_encoder(ImageEncoderConfig.tiny(weights=path))
    batch = tf.constant([images["jpeg"], images["png"]])
    np.testing.assert_allclose(loaded(batch).numpy(), tiny_image_encoder(batch).numpy(), rtol=1e-5, atol=1e-6)


def test_weights_with_unknown_format_are_rejected(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x00")
    with pytest.raises(ValueError, match="weights.h5"):
        build_image_encoder(ImageEncoderConfig.tiny(weights=str(path)))
