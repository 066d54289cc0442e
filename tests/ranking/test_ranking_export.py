"""The exported ranking SavedModel scores pairs exactly like the model in memory, in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfrec.export.ranking_export import export_ranking
from tfrec.export.warmup import read_warmup_requests
from tfrec.training.ranking_experiment import RankingExperiment

QUIET = dict(log=lambda *_: None)

FRESH_PROCESS = """
import json, sys
import tfrec, tensorflow as tf
results = []
for path, pairs in json.load(open(sys.argv[1])):
    signature = tf.saved_model.load(path).signatures["serving_default"]
    inputs = {"user_id": tf.constant(pairs["user_id"]), "item_id": tf.constant(pairs["item_id"])}
    if "retrieval_score" in pairs:
        inputs["retrieval_score"] = tf.constant(pairs["retrieval_score"], tf.float32)
    results.append({name: value.numpy().tolist() for name, value in signature(**inputs).items()
                    if value.dtype != tf.string})  # the float outputs; explanations have their own test
print(json.dumps(results))
"""


def pairs_of(exp, n=12):
    rows = exp.base.split.test.iloc[:n]
    users = rows.user_id.tolist() + ["unknown-user", rows.user_id.iloc[0]]
    items = rows.item_id.tolist() + [rows.item_id.iloc[0], "unknown-item"]
    return users, items


def in_memory(exp, model, users, items, retrieval_scores=None, histories=None):
    """The model's outputs; a ranker with history reads ``histories`` rows, by default each
    user's latest items in the data set (what the export stores)."""
    from tfrec.data.history import HISTORY, PAD, latest_items
    from tfrec.models.ranking import RETRIEVAL_SCORE
    import tensorflow as tf

    features = exp.base.join({"user_id": tf.constant(users), "item_id": tf.constant(items)})
    if retrieval_scores is not None:
        features[RETRIEVAL_SCORE] = tf.constant(retrieval_scores, tf.float32)
    length = exp.config.model.history.length
    if length:
        if histories is None:
            stored = latest_items(exp.base.dataset.interactions, length)
            histories = [stored.get(u, [PAD] * length) for u in users]
        features[HISTORY] = tf.constant(np.asarray(histories, dtype=str).astype(object))
    return {k: v.numpy() for k, v in model.serving_outputs(model(features)).items()}


def test_fresh_process_gives_the_in_memory_scores(tiny_ranking_run, tiny_listwise_run, tmp_path):
    """Both kinds of ranker (pairs with rating + engagement; lists with the retrieval score) are
    exported, then scored by a new Python process that only loads the SavedModels."""
    cases, expected = [], []
    for run, outputs in ((tiny_ranking_run, {"rating", "engagement", "score"}),
                         (tiny_listwise_run, {"listwise", "engagement", "score"})):
        exp = RankingExperiment.from_run(str(run), **QUIET)
        model = exp.load_model(str(run))
        path = export_ranking(exp, model, str(tmp_path / run.name))
        assert path.endswith(os.path.join("ranking", "1"))
        users, items = pairs_of(exp)
        pairs = {"user_id": users, "item_id": items}
        scores = None
        if exp.config.model.use_retrieval_score:
            scores = np.linspace(-1, 1, len(users)).astype(np.float32)
            pairs["retrieval_score"] = scores.tolist()
        cases.append((path, pairs))
        want = in_memory(exp, model, users, items, scores)
        assert set(want) == outputs
        # A ranker with a history also explains its scores (tested on their own below).
        expected.append((want, {"because_score"} if exp.config.model.history.length else set()))
        # TF Serving warm-up records match the signature.
        requests = read_warmup_requests(path)
        assert requests and set(requests[0].predict_log.request.inputs) == set(pairs)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "cases.json")],
                            capture_output=True, text=True, check=True, cwd=os.getcwd())
    exported = json.loads(result.stdout.strip().splitlines()[-1])
    for got, (want, explained) in zip(exported, expected):
        assert set(got) == set(want) | explained
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)
        assert np.isfinite(got["score"]).all()


def test_versions_count_up(tiny_ranking_run, tmp_path):
    exp = RankingExperiment.from_run(str(tiny_ranking_run), **QUIET)
    model = exp.load_model(str(tiny_ranking_run))
    assert export_ranking(exp, model, str(tmp_path)).endswith(os.path.join("ranking", "1"))
    assert export_ranking(exp, model, str(tmp_path)).endswith(os.path.join("ranking", "2"))
    assert not [name for name in os.listdir(tmp_path / "ranking") if name.startswith(".")]


def test_mismatched_lengths_are_invalid_argument(tiny_ranking_run, tmp_path):
    import tensorflow as tf

    exp = RankingExperiment.from_run(str(tiny_ranking_run), **QUIET)
    path = export_ranking(exp, exp.load_model(str(tiny_ranking_run)), str(tmp_path))
    signature = tf.saved_model.load(path).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="same length"):
        signature(user_id=tf.constant(["u1", "u2"]), item_id=tf.constant(["i1"]))


def test_history_signature_reads_the_given_items(tiny_listwise_run, tmp_path):
    """``with_history`` with the stored history equals ``serving_default``; another history
    gives other scores, exactly the in-memory model's; an empty history is no error."""
    import tensorflow as tf

    from tfrec.data.history import latest_items

    exp = RankingExperiment.from_run(str(tiny_listwise_run), **QUIET)
    model = exp.load_model(str(tiny_listwise_run))
    loaded = tf.saved_model.load(export_ranking(exp, model, str(tmp_path)))
    assert set(loaded.signatures) == {"serving_default", "with_history"}
    users, items = pairs_of(exp)
    scores = np.linspace(-1, 1, len(users)).astype(np.float32)
    ids = {"user_id": tf.constant(users), "item_id": tf.constant(items), "retrieval_score": tf.constant(scores)}
    stored = latest_items(exp.base.dataset.interactions, 4)
    own = np.array([stored.get(u, [""] * 4) for u in users], dtype=object)
    default = loaded.signatures["serving_default"](**ids)["score"].numpy()
    np.testing.assert_allclose(loaded.signatures["with_history"](**ids, history=tf.constant(own))["score"].numpy(),
                               default, rtol=1e-5, atol=1e-5)
    other = np.array([stored[exp.base.split.test.user_id.iloc[-1]]] * len(users), dtype=object)
    got = loaded.signatures["with_history"](**ids, history=tf.constant(other))["score"].numpy()
    np.testing.assert_allclose(got, in_memory(exp, model, users, items, scores, other)["score"], rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, default)
    empty = loaded.signatures["with_history"](**ids, history=tf.zeros([len(users), 0], tf.string))["score"]
    assert np.isfinite(empty.numpy()).all()


def test_each_pair_names_the_history_item_its_score_owes_most_to(tiny_listwise_run, tmp_path):
    """``because`` is an item of the pair's history; without it the pair scores exactly
    ``because_score`` lower, and without any other single item no lower than that."""
    import tensorflow as tf

    from tfrec.data.history import latest_items
    from tfrec.export.explanations import BECAUSE, BECAUSE_SCORE

    exp = RankingExperiment.from_run(str(tiny_listwise_run), **QUIET)
    signature = tf.saved_model.load(export_ranking(exp, exp.load_model(str(tiny_listwise_run)),
                                                   str(tmp_path))).signatures["with_history"]
    users, items = pairs_of(exp)
    stored = latest_items(exp.base.dataset.interactions, 4)
    histories = [[i for i in stored.get(u, []) if i] for u in users]
    width = max(map(len, histories))

    def score(history_rows):
        rows = np.array([[""] * (width - len(h)) + h for h in history_rows], dtype=object)
        return {k: v.numpy() for k, v in signature(
            user_id=tf.constant(users), item_id=tf.constant(items), retrieval_score=tf.zeros([len(users)]),
            history=tf.constant(rows)).items()}

    out = score(histories)
    named = out[BECAUSE].astype(str)
    assert named.shape == (len(users),) and any(named)
    for position in range(width):
        shorter = [h[:position] + h[position + 1:] if position < len(h) else h for h in histories]
        drop = out["score"] - score(shorter)["score"]
        for row, history in enumerate(histories):
            if position >= len(history) or history.count(history[position]) > 1:
                continue
            if history[position] == named[row]:
                np.testing.assert_allclose(drop[row], out[BECAUSE_SCORE][row], rtol=1e-3, atol=1e-5)
            else:
                assert drop[row] <= out[BECAUSE_SCORE][row] + 1e-5
    assert all(not n for n, h in zip(named, histories) if not h)
