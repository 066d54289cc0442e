"""The candidate_encoder SavedModel: raw content in, the tower's embedding out."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfrec.evaluation.embedding_scorer import candidate_embeddings
from tfrec.export.candidate_encoder_export import export_candidate_encoder
from tfrec.models.content import read_image_bytes
from tfrec.training.experiment import Experiment


@pytest.fixture(scope="module")
def exported(tiny_multimodal_run, tmp_path_factory):
    exp = Experiment.from_run(str(tiny_multimodal_run), log=lambda *_: None)
    model = exp.load_model(str(tiny_multimodal_run))
    base = tmp_path_factory.mktemp("saved_models")
    return exp, model, export_candidate_encoder(exp, model, str(base))


def test_fresh_process_gives_the_in_memory_embedding(exported, tmp_path):
    exp, model, path = exported
    items = exp.dataset.items.head(5)
    images = read_image_bytes(items.image_path)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"item_id": items.item_id.tolist(), "text": items.text.tolist(),
                                   "image": [b.hex() for b in images]}))
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        import tensorflow_text  # registers the tokenizer ops (built into TF Serving)
        r = json.load(open({str(request)!r}))
        sig = tf.saved_model.load({str(path)!r}).signatures["serving_default"]
        out = sig(item_id=tf.constant(r["item_id"]), text=tf.constant(r["text"]),
                  image=tf.constant([bytes.fromhex(h) for h in r["image"]]))
        print(json.dumps(out["embedding"].numpy().tolist()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    served = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    in_memory = candidate_embeddings(model.candidate_tower, exp.join, items.item_id.to_numpy()).numpy()
    np.testing.assert_allclose(served, in_memory, rtol=1e-4, atol=1e-5)


def test_missing_or_corrupt_content_still_embeds(exported):
    exp, _, path = exported
    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
    good = read_image_bytes(exp.dataset.items.image_path[:1])[0]
    out = sig(item_id=tf.constant(["new-1", "new-2", "new-3", "new-4"]),
              text=tf.constant(["", "a plain description", "", "x"]),
              image=tf.constant([b"", b"\x89PNG\r\n\x1a\n truncated", good[: len(good) // 2], b"\xff\xd8\xff"]))
    embedding = out["embedding"].numpy()
    assert embedding.shape == (4, exp.config.model.embedding_dim)
    assert np.isfinite(embedding).all()
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-4)


def test_content_changes_the_embedding_of_an_unknown_item(exported):
    exp, _, path = exported
    sig = tf.saved_model.load(str(path)).signatures["with_features"]
    items = exp.dataset.items.head(2)
    images = read_image_bytes(items.image_path)
    inputs = {"item_id": ["new", "new"], "text": items.text.tolist(), "image": images,
              "title": items.title.tolist(),
              **{c: items[c].tolist() for c in exp.dataset.item_categorical}}
    out = sig(**{k: tf.constant(v) for k, v in inputs.items()})["embedding"].numpy()
    assert not np.allclose(out[0], out[1], atol=1e-3)  # same id, different content


def test_rows_sharing_an_id_are_embedded_from_their_own_content(exported):
    exp, _, path = exported
    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
    items = exp.dataset.items.head(2)
    images = read_image_bytes(items.image_path)
    together = sig(item_id=tf.constant(["", ""]), text=tf.constant(items.text.tolist()),
                   image=tf.constant(images))["embedding"].numpy()
    alone = [sig(item_id=tf.constant([""]), text=tf.constant([text]), image=tf.constant([image]))["embedding"].numpy()[0]
             for text, image in zip(items.text, images)]
    assert not np.allclose(together[0], together[1], atol=1e-3)
    np.testing.assert_allclose(together, np.stack(alone), rtol=1e-4, atol=1e-5)
