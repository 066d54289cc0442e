"""The Keras 3 -> Keras 2 bridge: exported encoders as hub.KerasLayer in tf_keras models."""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tests.encoders.samples import SAMPLE_TEXTS
from tfrec.encoders.hub_module import export_hub_module, hub_layer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_text_encoder, tiny_image_encoder, images):
    """{"text"|"image": (path, inputs, in-memory embeddings)} for the tiny encoders."""
    root = tmp_path_factory.mktemp("hub")
    image_inputs = list(images.values())
    result = {}
    for kind, encoder, inputs in (
        ("text", tiny_text_encoder, SAMPLE_TEXTS),
        ("image", tiny_image_encoder, image_inputs),
    ):
        expected = encoder(tf.constant(inputs), training=False).numpy()
        path = export_hub_module(encoder, str(root / kind))
        result[kind] = (path, inputs, expected)
    return result


def test_saved_object_follows_the_reusable_savedmodel_api(exported):
    path, inputs, expected = exported["text"]
    obj = tf.saved_model.load(path)
    assert len(obj.variables) > len(obj.trainable_variables) > 0
    assert list(obj.regularization_losses) == []
    for training in (False, True):
        out = obj(tf.constant(inputs), training=training)
        assert out.shape == expected.shape
    served = obj.signatures["serving_default"](inputs=tf.constant(inputs))["outputs"]
    np.testing.assert_allclose(served.numpy(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["text", "image"])
def test_hub_layer_matches_in_memory_encoder(exported, kind):
    path, inputs, expected = exported[kind]
    out = hub_layer(path)(tf.constant(inputs)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["text", "image"])
@pytest.mark.parametrize("trainable", [True, False])
def test_fit_updates_encoder_weights_only_when_trainable(exported, kind, trainable):
    path, inputs, _ = exported[kind]
    encoder = hub_layer(path, trainable=trainable)
    raw = tf_keras.Input(shape=(), dtype=tf.string)
    model = tf_keras.Model(raw, tf_keras.layers.Dense(1)(encoder(raw)))
    model.compile(optimizer=tf_keras.optimizers.SGD(0.1), loss="mse")
    before = [w.numpy().copy() for w in encoder.trainable_weights + encoder.non_trainable_weights]
    assert (len(encoder.trainable_weights) > 0) == trainable

    model.fit(tf.constant(inputs), np.ones(len(inputs)), batch_size=len(inputs), epochs=1, verbose=0)

    after = [w.numpy() for w in encoder.trainable_weights + encoder.non_trainable_weights]
    changed = [not np.array_equal(b, a) for b, a in zip(before, after)]
    if trainable:
        assert all(changed[: len(encoder.trainable_weights)]), "every trainable weight should move"
    else:
        assert not any(changed)


def test_empty_batch_through_hub_layer(exported):
    for kind in ("text", "image"):
        path, _, expected = exported[kind]
        out = hub_layer(path)(tf.constant([], tf.string))
        assert out.shape == (0, expected.shape[1])


def test_export_refuses_to_overwrite(tmp_path, tiny_text_encoder):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        export_hub_module(tiny_text_encoder, str(tmp_path))


def test_missing_module_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        hub_layer(str(tmp_path))


def test_fresh_process_reload_gives_same_embeddings(exported, tmp_path):
    """A new interpreter (no Keras 3 objects, no keras-hub) must reproduce the embeddings."""
    jobs = {kind: (path, inputs) for kind, (path, inputs, _) in exported.items()}
    job_file, out_file = tmp_path / "jobs.pkl", tmp_path / "out.pkl"
    job_file.write_bytes(pickle.dumps(jobs))
    script = textwrap.dedent(
        f"""
        import pickle, sys
        import tfrec
        import tensorflow as tf
        from tfrec.encoders.hub_module import hub_layer
        jobs = pickle.load(open({str(job_file)!r}, "rb"))
        out = {{k: hub_layer(p)(tf.constant(x)).numpy() for k, (p, x) in jobs.items()}}
        out["keras_hub_imported"] = "keras_hub" in sys.modules
        pickle.dump(out, open({str(out_file)!r}, "wb"))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = pickle.loads(out_file.read_bytes())
    assert result.pop("keras_hub_imported") is False
    for kind, (_, _, expected) in exported.items():
        np.testing.assert_allclose(result[kind], expected, rtol=1e-4, atol=1e-5)


def test_fine_tuning_a_frozen_export_is_a_clear_error(tmp_path):
    from tfrec.encoders.text import TextEncoderConfig, build_text_encoder

    frozen = build_text_encoder(TextEncoderConfig.tiny(trainable=False))
    path = export_hub_module(frozen, str(tmp_path / "frozen"))
    assert hub_layer(path, trainable=False)(tf.constant(["x"])).shape == (1, 16)
    with pytest.raises(ValueError, match="without trainable weights"):
        hub_layer(path, trainable=True)
