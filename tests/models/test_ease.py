"""EASE: the closed form, its zero diagonal, co-occurrence ranking and validation tuning."""

import numpy as np
import pandas as pd
import pytest

from tfrec.evaluation.full_ranking import EvaluationSet, evaluate
from tfrec.models.ease import EASE, tune_on_validation

ITEMS = ["a", "b", "c", "d", "e"]


def frame(pairs):
    return pd.DataFrame({
        "user_id": [u for u, _ in pairs],
        "item_id": [i for _, i in pairs],
        "timestamp": np.arange(len(pairs), dtype=np.int64),
    })


# a and b co-occur in every basket; c and d together; e once; one unknown item.
TRAIN = frame([
    ("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u2", "c"),
    ("u3", "a"), ("u3", "b"), ("u4", "c"), ("u4", "d"), ("u5", "c"),
    ("u5", "d"), ("u5", "e"), ("u6", "a"), ("u6", "b"), ("u6", "b"), ("u6", "zz"),
])


def dense_matrix(pairs_frame, users):
    x = np.zeros((len(users), len(ITEMS)))
    for u, i in zip(pairs_frame.user_id, pairs_frame.item_id):
        if i in ITEMS:
            x[users.index(u), ITEMS.index(i)] = 1.0  # binary: the repeat (u6, b) counts once
    return x


def test_weights_match_the_closed_form_and_the_constrained_ridge_solution():
    l2 = 3.0
    model = EASE(ITEMS, l2=l2).fit(TRAIN)
    users = ["u1", "u2", "u3", "u4", "u5", "u6"]
    x = dense_matrix(TRAIN, users)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(len(ITEMS)))
    expected = np.eye(len(ITEMS)) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(model.weights, expected, atol=1e-6)
    np.testing.assert_array_equal(np.diag(model.weights), 0.0)
    # Independently: column j is the ridge regression of item j on the *other* items.
    for j in range(len(ITEMS)):
        others = [k for k in range(len(ITEMS)) if k != j]
        xo = x[:, others]
        b = np.linalg.solve(xo.T @ xo + l2 * np.eye(len(others)), xo.T @ x[:, j])
        np.testing.assert_allclose(model.weights[others, j], b, atol=1e-6)
    assert model.unknown_items == 1


def test_scores_are_history_times_weights_and_rank_co_occurring_items_first():
    model = EASE(ITEMS, l2=1.0).fit(TRAIN)
    scores = model.score(np.array(["u1", "u4", "nobody"], dtype=object))
    assert scores.shape == (3, len(ITEMS)) and scores.dtype == np.float32
    users = ["u1", "u2", "u3", "u4", "u5", "u6"]
    x = dense_matrix(TRAIN, users)
    np.testing.assert_allclose(scores[0], x[0] @ model.weights, atol=1e-6)
    np.testing.assert_array_equal(scores[2], 0.0)  # no history, no signal
    # A user holding only a is recommended b; one holding only c is recommended d.
    probe = EASE(ITEMS, l2=1.0).fit(pd.concat([TRAIN, frame([("pa", "a"), ("pc", "c")])]))
    s = probe.score(["pa", "pc"])
    assert ITEMS[int(np.argmax(np.where([1, 0, 0, 0, 0], -np.inf, s[0])))] == "b"
    assert ITEMS[int(np.argmax(np.where([0, 0, 1, 0, 0], -np.inf, s[1])))] == "d"
    # Through the harness: pc's held-out d is ranked first among its unseen items.
    seen = pd.concat([TRAIN, frame([("pa", "a"), ("pc", "c")])])
    eval_set = EvaluationSet.from_frames(seen, frame([("pc", "d"), ("pa", "b")]), ["pa", "pc"], ITEMS)
    assert evaluate(probe, eval_set, ks=(1,))["hit_rate@1"] == 1.0


def test_tune_on_validation_returns_every_candidate_and_the_best_model():
    val = frame([("u1", "c"), ("u4", "e"), ("u3", "c")])
    model, results = tune_on_validation(ITEMS, TRAIN, val, l2_grid=(0.5, 5.0, 50.0), extend=0)
    assert sorted(results) == [0.5, 5.0, 50.0]
    best = max(results, key=lambda l2: results[l2]["ndcg@10"])
    assert results[model.l2]["ndcg@10"] == results[best]["ndcg@10"]
    assert model.weights is not None
    # A best value on a grid edge extends the search past that edge only.
    for grid in [(0.5,), (1e-3, 1e-2), (1e3, 1e4)]:
        model, results = tune_on_validation(ITEMS, TRAIN, val, l2_grid=grid, extend=2, factor=10.0)
        extra = sorted(set(results) - set(grid))
        assert len(extra) <= 2 and all(l2 > max(grid) or l2 < min(grid) for l2 in extra)
        assert results[model.l2]["ndcg@10"] == max(r["ndcg@10"] for r in results.values())
    with pytest.raises(ValueError, match="metric"):
        tune_on_validation(ITEMS, TRAIN, val, metric="auc")
    with pytest.raises(ValueError, match="empty"):
        tune_on_validation(ITEMS, TRAIN, val, l2_grid=())
    with pytest.raises(ValueError, match="extend"):
        tune_on_validation(ITEMS, TRAIN, val, extend=-1)


def test_validation():
    with pytest.raises(ValueError, match="unique"):
        EASE(["a", "a"])
    with pytest.raises(ValueError, match="empty"):
        EASE([])
    for bad in (0, -1.0, "10", True):
        with pytest.raises(ValueError, match="l2"):
            EASE(ITEMS, l2=bad)
    with pytest.raises(ValueError, match="before fit"):
        EASE(ITEMS).score(["u1"])
    with pytest.raises(ValueError, match="item_id"):
        EASE(ITEMS).fit(pd.DataFrame({"user_id": ["u1"]}))
    with pytest.raises(ValueError, match="catalogue"):
        EASE(ITEMS).fit(frame([("u1", "zz")]))
