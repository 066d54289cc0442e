"""benchmarks/peers.py without torch: the files the RecBole worker reads hold exactly tfrec's split, the
worker's validation metric is tfrec's NDCG@10, and a worker's test scores are ranked by tfrec's harness.

The last test runs the worker itself for one epoch and needs RecBole's virtualenv (``.venv-peers``, made
by the first ``benchmarks/peers.py`` run); it skips, saying so, without it.
"""

import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tfrec.data.splits import temporal_leave_last_out
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import peers  # noqa: E402
import peers_worker  # noqa: E402


def _interactions(seed=0):
    """Users with 2 to 30 interactions (so some histories are cut to 20), tied timestamps, a repeat
    of a training item as a validation target, in shuffled input order; item i99 is never interacted."""
    rng = np.random.default_rng(seed)
    rows = []
    for u, n in enumerate([2, 3, 5, 12, 24, 30, 7]):
        times = np.sort(rng.integers(1_000, 1_000 + 2 * n, size=n))
        items = rng.choice(40, size=n, replace=False)
        rows += [(f"u{u}", f"i{i}", int(t)) for i, t in zip(items, times)]
    # u3's validation target repeats its earliest item; its test target is new to it.
    u3 = [(item, t) for user, item, t in rows if user == "u3"]
    new = next(f"i{i}" for i in range(40) if f"i{i}" not in {item for item, _ in u3})
    rows += [("u3", min(u3, key=lambda r: r[1])[0], 10**6), ("u3", new, 10**6 + 1)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(rating=1.0)
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


def test_split_files_round_trip_to_tfrecs_split(tmp_path):
    frame = _interactions()
    split = temporal_leave_last_out(frame)
    catalogue = np.array([f"i{i}" for i in range(40)] + ["i99"], dtype=object)
    val_set, test_set = peers.write_split(split, catalogue, str(tmp_path))

    # Training sequences: every training interaction after a user's first, with up to 20 items before it.
    expected = []
    for user, items in split.train.groupby("user_id", sort=False).item_id:
        items = list(items)
        expected += [(user, items[max(0, t - 20):t], items[t]) for t in range(1, len(items))]
    rows = peers_worker.read_train_sequences(str(tmp_path))
    assert sorted(rows) == sorted(expected)
    assert len(rows) == len(split.train) - split.train.user_id.nunique()
    assert max(len(h) for _, h, _ in rows) == 20
    assert peers_worker.read_catalogue(str(tmp_path)) == list(catalogue)

    ev = peers_worker.read_eval(str(tmp_path))
    assert ev["item_ids"] == list(catalogue)
    train_items = {u: list(g) for u, g in split.train.groupby("user_id", sort=False).item_id}
    val_item = dict(zip(split.val.user_id, split.val.item_id))

    val = ev["validation"]
    assert val["user_ids"] == list(val_set.user_ids)
    assert "u0" not in val["user_ids"]  # two interactions: all in training
    assert "u3" not in val["user_ids"]  # its validation target was already seen in training, as tfrec drops it
    for user, history, seen, targets in zip(val["user_ids"], val["histories"], val["seen"], val["targets"]):
        assert history == train_items[user][-20:]
        assert sorted(seen) == sorted(set(train_items[user]))
        assert targets == [val_item[user]]

    test = ev["test"]
    assert test["user_ids"] == list(test_set.user_ids) and "u3" in test["user_ids"]
    assert "targets" not in test  # the worker never sees the test targets
    for user, history in zip(test["user_ids"], test["histories"]):
        assert history == (train_items[user] + [val_item[user]])[-20:]

    # The test set is the one quality.py ranks: seen = train + validation, targets = test.
    same = EvaluationSet.from_frames(seen=pd.concat([split.train, split.val]), target=split.test,
                                     user_ids=split.train.user_id.astype(str).unique(), item_ids=catalogue)
    assert list(same.user_ids) == list(test_set.user_ids)
    assert (same.seen != test_set.seen).nnz == 0 and (same.target != test_set.target).nnz == 0


def test_ids_with_whitespace_are_refused(tmp_path):
    frame = pd.DataFrame({"user_id": ["a b"] * 3, "item_id": ["x", "y", "z"], "timestamp": [1, 2, 3]})
    with pytest.raises(ValueError, match="whitespace"):
        peers.write_split(temporal_leave_last_out(frame), ["x", "y", "z"], str(tmp_path))


def test_worker_validation_ndcg_is_tfrecs():
    rng = np.random.default_rng(3)
    users, items = [f"u{i}" for i in range(40)], [f"i{j}" for j in range(25)]
    seen_rows, target_rows = [], []
    for u in users:
        picked = rng.choice(25, size=8, replace=False)
        seen_rows += [(u, items[j]) for j in picked[:5]]
        # One to three targets; the first sometimes repeats a seen item (dropped by both).
        targets = list(picked[5:5 + int(rng.integers(1, 4))])
        if rng.random() < 0.3:
            targets[0] = picked[0]
        target_rows += [(u, items[j]) for j in targets]
    seen = pd.DataFrame(seen_rows, columns=["user_id", "item_id"])
    target = pd.DataFrame(target_rows, columns=["user_id", "item_id"])
    scores = rng.integers(0, 4, size=(len(users), len(items))).astype(np.float32)  # many ties
    eval_set = EvaluationSet.from_frames(seen=seen, target=target, user_ids=users, item_ids=items)
    row = {u: i for i, u in enumerate(users)}
    expected = evaluate(lambda batch: scores[[row[u] for u in batch]], eval_set, ks=(10,))["ndcg@10"]

    column = {item: j for j, item in enumerate(items)}
    seen_lists = [[column[i] for i in seen.item_id[seen.user_id == u]] for u in users]
    target_lists = [[column[i] for i in target.item_id[target.user_id == u]] for u in users]
    assert peers_worker.ndcg_at_k(scores, seen_lists, target_lists, k=10) == pytest.approx(expected, abs=1e-12)


def test_worker_scores_are_ranked_by_tfrecs_harness(tmp_path):
    catalogue = ["a", "b", "c", "d", "e"]
    seen = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"]})
    target = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["c", "e"]})
    test_set = EvaluationSet.from_frames(seen=seen, target=target, user_ids=["u1", "u2"], item_ids=catalogue)
    # The worker's own column order, without item e (which is then ranked last), rows in another order.
    np.savez_compressed(tmp_path / "test_scores.npz", user_ids=np.array(["u2", "u1"]),
                        item_ids=np.array(["d", "c", "b", "a"]),
                        scores=np.array([[0.1, 0.2, 0.3, 0.4], [0.9, 0.5, 0.7, 1.0]], dtype=np.float32))
    metrics = peers.score_worker_output(str(tmp_path), test_set)
    # u1: a is seen; d 0.9, b 0.7, then c 0.5 -> rank 3. u2: b is seen; a, c, d, then e -> rank 4.
    assert metrics["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / 2)
    assert metrics["recall@10"] == 1.0 and metrics["users"] == 2
    assert metrics["mrr"] == pytest.approx((1 / 3 + 1 / 4) / 2)


def test_worker_trains_and_scores_every_test_user(tmp_path):
    python = peers.PEERS_VENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"RecBole's virtualenv {peers.PEERS_VENV} is absent (the first benchmarks/peers.py run makes it)")
    split = temporal_leave_last_out(_interactions())
    catalogue = [f"i{i}" for i in range(40)] + ["i99"]
    _, test_set = peers.write_split(split, catalogue, str(tmp_path / "data"))
    out = tmp_path / "gru4rec"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run([str(python), str(peers.WORKER), "--data", str(tmp_path / "data"), "--model", "gru4rec",
                    "--seed", "0", "--out", str(out), "--max-epochs", "2", "--patience", "1"],
                   check=True, env=env, cwd=tmp_path, capture_output=True)
    run = json.loads((out / "run.json").read_text())
    assert run["epochs_trained"] in (1, 2) and 1 <= run["best_epoch"] <= run["epochs_trained"]
    assert run["recbole_items"] == len(catalogue) + 1  # the catalogue and RecBole's padding id
    with np.load(out / "test_scores.npz") as f:
        assert list(f["user_ids"]) == list(test_set.user_ids) and list(f["item_ids"]) == catalogue
        assert f["scores"].shape == (test_set.num_users, len(catalogue)) and np.isfinite(f["scores"]).all()
    assert 0 <= peers.score_worker_output(str(out), test_set)["ndcg@10"] <= 1
