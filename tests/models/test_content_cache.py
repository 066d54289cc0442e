"""The content cache shared by runs: hits are logged and encode nothing, a changed item is the only one
encoded again, a corrupt chunk is detected and re-encoded, empty texts never reach BERT."""

import numpy as np
import pandas as pd
import pytest

import tfrec  # noqa: F401  (Keras 2 before TensorFlow)

from tests.encoders.samples import sample_images


@pytest.fixture(scope="module")
def featurizer(tmp_path_factory):
    from tfrec.config import ContentConfig, ImageEncoderConfig, TextEncoderConfig
    from tfrec.models.content import ContentFeaturizer, export_encoder_modules

    config = ContentConfig(mode="cached", text=TextEncoderConfig(preset="tiny", sequence_length=16),
                           image=ImageEncoderConfig(variant="tiny", image_size=32), encode_batch_size=4)
    paths = export_encoder_modules(config, str(tmp_path_factory.mktemp("encoders")))
    return ContentFeaturizer(paths, name="content"), config


@pytest.fixture
def catalogue():
    images = sample_images()
    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(6)],
                          "text": ["space opera", "", "a quiet drama", "   ", "space opera", "jazz and rain"]})
    pictures = [images["jpeg"], images["png"], b"", images["jpeg"], images["png"], images["jpeg"]]
    return items, pictures


def _encode(featurizer, items, images, cache):
    from tfrec.models.content import encode_catalogue

    lines = []
    vectors = encode_catalogue(featurizer[0], items, images, featurizer[1], str(cache), log=lines.append)
    return vectors, lines


def _encoded(lines, modality):
    """How many contents the log says were encoded (0 when none were)."""
    done = [line for line in lines if line.startswith(f"encoding {modality}:") and " in " in line]
    return int(done[0].split(":")[1].split()[0].replace(",", "")) if done else 0


def test_second_encoding_is_a_logged_hit_that_encodes_nothing(featurizer, catalogue, tmp_path):
    items, images = catalogue
    first, lines = _encode(featurizer, items, images, tmp_path)
    # Distinct non-empty contents only: 3 texts ("space opera" twice, two blanks), 2 images (one empty).
    assert _encoded(lines, "text") == 3 and _encoded(lines, "image") == 2
    again, lines = _encode(featurizer, items, images, tmp_path)
    assert _encoded(lines, "text") == _encoded(lines, "image") == 0
    hits = [line.split(":")[1].split("-")[0].strip() for line in lines if line.startswith("content cache hit:")]
    assert sorted(hits) == ["4 items, text", "5 items, image"]
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])


def test_empty_texts_and_images_are_zeros_without_an_encoder_call(featurizer, catalogue, tmp_path):
    items, images = catalogue
    vectors, lines = _encode(featurizer, items, images, tmp_path)
    text, image = vectors["item_text_vector"], vectors["item_image_vector"]
    assert not text[1].any() and not text[3].any() and text[0].any()
    assert not image[2].any() and image[0].any()
    np.testing.assert_array_equal(text[0], text[4])  # same content, one vector
    # The live encoder (what the candidate-encoder export runs) agrees: a blank text is zeros.
    live = featurizer[0].encoders["text"](np.array(["   ", "space opera"]), training=False).numpy()
    assert not live[0].any()
    np.testing.assert_allclose(live[1], text[0], rtol=1e-5, atol=1e-6)
    assert any("2 of 6 items have no text" in line for line in lines)


def test_a_changed_text_is_the_only_one_encoded_again(featurizer, catalogue, tmp_path):
    items, images = catalogue
    before, _ = _encode(featurizer, items, images, tmp_path)
    changed = items.copy()
    changed.loc[2, "text"] = "a loud comedy"
    after, lines = _encode(featurizer, changed, images, tmp_path)
    assert _encoded(lines, "text") == 1 and _encoded(lines, "image") == 0
    text_before, text_after = before["item_text_vector"], after["item_text_vector"]
    assert not np.allclose(text_before[2], text_after[2])
    np.testing.assert_array_equal(np.delete(text_before, 2, 0), np.delete(text_after, 2, 0))


def test_other_settings_are_another_key(featurizer, catalogue, tmp_path):
    import dataclasses

    from tfrec.models.content import encode_catalogue

    items, images = catalogue
    _encode(featurizer, items, images, tmp_path)
    featurizer_, config = featurizer
    longer = dataclasses.replace(config, text=dataclasses.replace(config.text, sequence_length=8))
    lines = []
    encode_catalogue(featurizer_, items, images, longer, str(tmp_path), log=lines.append)
    assert _encoded(lines, "text") == 3 and _encoded(lines, "image") == 0  # text key changed, image key did not


def test_a_corrupt_chunk_is_detected_removed_and_encoded_again(featurizer, catalogue, tmp_path):
    items, images = catalogue
    first, _ = _encode(featurizer, items, images, tmp_path)
    [chunk] = (tmp_path).glob("text-*/*.npz")
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    again, lines = _encode(featurizer, items, images, tmp_path)
    assert any("is corrupt" in line and chunk.name in line for line in lines)
    assert _encoded(lines, "text") == 3 and _encoded(lines, "image") == 0
    np.testing.assert_array_equal(first["item_text_vector"], again["item_text_vector"])
    third, lines = _encode(featurizer, items, images, tmp_path)
    assert _encoded(lines, "text") == 0 and not any("corrupt" in line for line in lines)


def test_a_second_training_with_another_model_config_encodes_nothing(tiny_config_path, tmp_path):
    """Two ``tfrec train`` commands, as a user runs them: the second one's catalogue comes from the cache."""
    import os
    import subprocess
    import sys

    import yaml

    from tests.conftest import TINY_MULTIMODAL

    values = yaml.safe_load(tiny_config_path.read_text())
    values["model"].update(yaml.safe_load(TINY_MULTIMODAL)["model"])
    values["train"].update({"epochs": 1, "histogram_freq": 0, "projector": False})
    config = tmp_path / "multimodal.yaml"
    config.write_text(yaml.safe_dump(values))
    env = {**os.environ, "TFREC_CACHE_DIR": str(tmp_path / "cache")}
    logs = []
    for n, hidden in enumerate(("[32]", "[16, 16]")):
        done = subprocess.run([sys.executable, "-m", "tfrec.cli", "train", "--config", str(config), "--run",
                               str(tmp_path / f"run{n}"), "--set", f"model.hidden_dims={hidden}"],
                              capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        logs.append(done.stdout.splitlines())
    assert _encoded(logs[0], "text") > 0 and _encoded(logs[0], "image") > 0
    assert _encoded(logs[1], "text") == _encoded(logs[1], "image") == 0
    assert sum(line.startswith("content cache hit:") for line in logs[1]) == 2
    # Each run keeps its own copy of what it trained on.
    first, second = (np.load(tmp_path / f"run{n}" / "data" / "item_vectors.npz") for n in (0, 1))
    for name in first.files:
        np.testing.assert_array_equal(first[name], second[name])
