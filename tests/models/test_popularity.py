"""Popularity baseline: ranks by training count and plugs into the harness."""

import numpy as np
import pandas as pd
import pytest

from tfrec.evaluation.full_ranking import EvaluationSet, evaluate
from tfrec.models.popularity import PopularityBaseline

ITEMS = ["a", "b", "c", "d"]


def frame(pairs):
    return pd.DataFrame(
        {
            "user_id": [u for u, _ in pairs],
            "item_id": [i for _, i in pairs],
            "timestamp": np.arange(len(pairs), dtype=np.int64),
            "rating": np.ones(len(pairs), dtype=np.float32),
        }
    )


# Counts: c=3, a=2, b=1, d=0, plus one interaction with an item outside ITEMS.
TRAIN = frame([("u1", "c"), ("u2", "c"), ("u3", "c"), ("u1", "a"), ("u2", "a"), ("u3", "b"), ("u3", "zz")])


def test_scores_are_log_counts_in_item_order():
    model = PopularityBaseline(ITEMS).fit(TRAIN)
    np.testing.assert_array_equal(model.counts, [2, 1, 3, 0])
    assert model.unknown_items == 1
    scores = model.score(np.array(["u1", "new"], dtype=object))
    assert scores.shape == (2, 4) and scores.dtype == np.float32
    np.testing.assert_allclose(scores[0], np.log1p([2, 1, 3, 0]), rtol=1e-6)
    np.testing.assert_array_equal(scores[0], scores[1])  # same row for every user
    raw = PopularityBaseline(ITEMS, log=False).fit(TRAIN).score(["u1"])
    np.testing.assert_array_equal(raw[0], [2, 1, 3, 0])
    assert np.array_equal(np.argsort(-raw[0]), np.argsort(-scores[0]))


def test_ranks_by_count_and_excludes_seen_items():
    model = PopularityBaseline(ITEMS).fit(TRAIN)
    # u1 saw c and a (the two most popular): its top-1 must be b, the next most popular.
    hit = EvaluationSet.from_frames(TRAIN, frame([("u1", "b")]), ["u1", "u2", "u3"], ITEMS)
    out = evaluate(model, hit, ks=(1,))
    assert out["recall@1"] == 1.0 and out["mrr"] == 1.0
    # u1's unseen ranking is b (1 interaction) then d (0): d sits at rank 2.
    miss = EvaluationSet.from_frames(TRAIN, frame([("u1", "d")]), ["u1", "u2", "u3"], ITEMS)
    out = evaluate(model.score, miss, ks=(1, 2))
    assert out["hit_rate@1"] == 0.0 and out["hit_rate@2"] == 1.0 and out["mrr"] == pytest.approx(0.5)
    # A cold user saw nothing: c (most popular) is ranked first.
    cold = EvaluationSet.from_frames(TRAIN, frame([("new", "c")]), ["u1"], ITEMS)
    assert evaluate(model, cold, ks=(1,))["hit_rate@1"] == 1.0


def test_validation():
    with pytest.raises(ValueError, match="unique"):
        PopularityBaseline(["a", "a"])
    with pytest.raises(ValueError, match="empty"):
        PopularityBaseline([])
    with pytest.raises(ValueError, match="item_id"):
        PopularityBaseline(ITEMS).fit(pd.DataFrame({"user_id": ["u"]}))
    with pytest.raises(ValueError, match="before fit"):
        PopularityBaseline(ITEMS).score(["u"])
