import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tfrec.errors import RunError
from tfrec.evaluation.embedding_scorer import EmbeddingScorer
from tfrec.export.retrieval_export import export_retrieval
from tfrec.export.versions import existing_versions
from tfrec.training.experiment import Experiment


@pytest.fixture(scope="module")
def trained(tiny_run):
    exp = Experiment.from_run(str(tiny_run))
    return exp, exp.load_model(str(tiny_run))


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    exp, model = trained
    base = tmp_path_factory.mktemp("saved_models")
    return base, export_retrieval(exp, model, str(base), max_k=20)


def _in_memory_top_k(exp, model, users, k):
    """Top-k by the in-memory towers, excluding every item the user interacted with."""
    scores = EmbeddingScorer(model, exp.join, exp.item_ids)(users)
    seen = exp.dataset.interactions.groupby("user_id").item_id.apply(set)
    position = {item: i for i, item in enumerate(exp.item_ids)}
    for row, user in enumerate(users):
        for item in seen.get(user, ()):
            scores[row, position[item]] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return exp.item_ids[order], np.take_along_axis(scores, order, axis=1)


def test_reloaded_in_a_fresh_process_gives_the_in_memory_top_k(trained, exported):
    exp, model = trained
    base, path = exported
    users = ["u1", "u2", "u17", "u250"]
    script = textwrap.dedent(f"""
        import json, tensorflow as tf
        sig = tf.saved_model.load({str(path)!r}).signatures["serving_default"]
        out = sig(user_id=tf.constant({users!r}))
        print(json.dumps({{"ids": out["item_ids"].numpy()[:, :10].astype(str).tolist(),
                          "scores": out["scores"].numpy()[:, :10].tolist()}}))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    ids, scores = _in_memory_top_k(exp, model, users, 10)
    np.testing.assert_allclose(np.array(served["scores"]), scores, rtol=1e-4, atol=1e-5)
    # Identical scores may swap places; compare ids where scores are distinct.
    assert [set(r) for r in served["ids"]] == [set(r) for r in ids.tolist()]


def test_every_user_gets_max_k_distinct_recommendations_with_no_scalar_input(exported):
    """No rank-0 input (TF Serving batches the signature); the width is max_k, stated in the signature."""
    _, path = exported
    sig = tf.saved_model.load(str(path)).signatures["serving_default"]
    assert {name: spec.shape.as_list() for name, spec in sig.structured_input_signature[1].items()} == {
        "user_id": [None]}
    assert {name: spec.shape.as_list() for name, spec in sig.structured_outputs.items()} == {
        "item_ids": [None, 20], "scores": [None, 20]}
    out = sig(user_id=tf.constant(["no-such-user", "u1"]))
    ids = out["item_ids"].numpy()
    assert ids.shape == (2, 20) and len(set(ids[0])) == 20
    assert np.isfinite(out["scores"].numpy()).all()
    assert (np.diff(out["scores"].numpy(), axis=1) <= 0).all()  # best first, so the first k are the top k


def test_new_exports_get_new_versions_and_leave_no_temporary_folders(trained, exported):
    exp, model = trained
    base, first = exported
    second = export_retrieval(exp, model, str(base), max_k=20)
    assert os.path.basename(first) == "1" and os.path.basename(second) == "2"
    assert existing_versions(os.path.join(base, "retrieval")) == [1, 2]
    assert sorted(os.listdir(os.path.join(base, "retrieval"))) == ["1", "2"]
    with pytest.raises(RunError, match="version 1 of 'retrieval' already exists"):
        export_retrieval(exp, model, str(base), version=1, max_k=20)
    assert sorted(os.listdir(os.path.join(base, "retrieval"))) == ["1", "2"]
