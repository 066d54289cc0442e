"""Full-ranking harness: seen exclusion, hand cases, ties, and brute-force agreement."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrec.evaluation import full_ranking
from tfrec.evaluation import metrics as M
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, format_table, save_json

ITEMS = ["i0", "i1", "i2", "i3", "i4", "i5"]


def frame(pairs):
    return pd.DataFrame(
        {
            "user_id": [u for u, _ in pairs],
            "item_id": [i for _, i in pairs],
            "timestamp": np.arange(len(pairs), dtype=np.int64),
            "rating": np.ones(len(pairs), dtype=np.float32),
        }
    )


def table_scorer(table: dict[str, list[float]]):
    """score_fn returning fixed per-user score rows (and recording calls)."""
    calls = []

    def score_fn(user_ids):
        calls.append(list(user_ids))
        return np.array([table[u] for u in user_ids], dtype=np.float32)

    score_fn.calls = calls
    return score_fn


def test_seen_item_with_top_score_neither_hits_nor_takes_a_slot():
    # u: seen i0, relevant i2. Scores: i0 (seen) highest, then i1, then i2.
    seen = frame([("u", "i0")])
    target = frame([("u", "i2")])
    es = EvaluationSet.from_frames(seen, target, ["u"], ITEMS)
    score = table_scorer({"u": [9.0, 8.0, 7.0, 1.0, 0.5, 0.0]})
    out = evaluate(score, es, ks=(1, 2))
    # Ranking without the seen i0: i1 (rank 1), i2 (rank 2).
    assert out["hit_rate@1"] == 0.0 and out["recall@1"] == 0.0
    assert out["hit_rate@2"] == 1.0 and out["recall@2"] == 1.0
    assert out["ndcg@2"] == pytest.approx(1 / math.log2(3))  # one relevant at rank 2, IDCG = 1
    assert out["mrr"] == pytest.approx(1 / 2)
    # coverage@1: only i1 appears in a top-1 of the 6 items (i0 is seen, never recommended).
    assert out["coverage@1"] == pytest.approx(1 / 6)
    assert out["users"] == 1


def test_hand_case_two_users():
    # a: relevant i1, i3 at ranks 1 and 3 of k=5 (no seen items).
    # b: seen i5; relevant i4 ranked 4th among the 5 unseen items.
    es = EvaluationSet.from_frames(
        frame([("b", "i5")]),
        frame([("a", "i1"), ("a", "i3"), ("b", "i4")]),
        ["a", "b"],
        ITEMS,
    )
    score = table_scorer(
        {
            "a": [0.5, 0.9, 0.8, 0.7, 0.1, 0.0],  # order: i1, i2, i3, i0, i4, i5
            "b": [0.9, 0.8, 0.7, 0.0, 0.6, 1.0],  # unseen order: i0, i1, i2, i4, i3
        }
    )
    out = evaluate(score, es, ks=(3, 5))
    ndcg_a = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg_b = (1 / math.log2(5)) / 1.0
    assert out["recall@3"] == pytest.approx((1.0 + 0.0) / 2)
    assert out["recall@5"] == pytest.approx((1.0 + 1.0) / 2)
    assert out["ndcg@5"] == pytest.approx((ndcg_a + ndcg_b) / 2)
    assert out["hit_rate@3"] == pytest.approx(0.5)
    assert out["mrr"] == pytest.approx((1 / 1 + 1 / 4) / 2)


def test_perfect_and_worst_scorers():
    seen = frame([("a", "i0"), ("b", "i1")])
    target = frame([("a", "i2"), ("a", "i3"), ("b", "i4")])
    es = EvaluationSet.from_frames(seen, target, ["a", "b"], ITEMS)
    relevant = es.target.toarray()
    perfect = lambda users: relevant.astype(np.float32)  # noqa: E731
    worst = lambda users: -relevant.astype(np.float32)  # noqa: E731
    best = evaluate(perfect, es, ks=(2, 3))
    assert all(best[k] == pytest.approx(1.0) for k in ("recall@2", "ndcg@2", "hit_rate@2", "mrr"))
    bad = evaluate(worst, es, ks=(2, 3))
    # 5 unseen items each; 3 non-relevant ones outrank a's and 4 outrank b's.
    assert all(bad[k] == 0.0 for k in ("recall@3", "ndcg@3", "hit_rate@3"))
    assert bad["mrr"] == pytest.approx((1 / 4 + 1 / 5) / 2)


def test_ties_are_pessimistic():
    # Constant scores: the relevant item is ranked after all 4 other unseen items.
    es = EvaluationSet.from_frames(frame([("u", "i5")]), frame([("u", "i0")]), ["u"], ITEMS)
    out = evaluate(lambda users: np.zeros((len(users), 6), np.float32), es, ks=(1, 4, 5))
    assert out["hit_rate@4"] == 0.0 and out["recall@1"] == 0.0
    assert out["recall@5"] == 1.0
    assert out["mrr"] == pytest.approx(1 / 5)


def test_unknown_users_and_items_counted():
    seen = frame([("a", "i0"), ("a", "zz")])
    target = frame([("a", "i1"), ("a", "i0"), ("cold", "i2"), ("cold", "gone"), ("lost", "gone")])
    es = EvaluationSet.from_frames(seen, target, ["a", "b"], ITEMS)
    assert list(es.user_ids) == ["a", "cold"]
    assert list(es.user_index) == [0, -1]
    assert es.counts == {
        "target_users": 3,
        "users": 2,
        "unknown_users": 1,
        "users_without_relevant": 1,  # "lost" only had an unknown item
        "unknown_target_items": 2,
        "seen_target_items": 1,  # (a, i0) was already seen
        "unknown_seen_items": 1,
    }
    assert es.target.toarray().sum() == 2 and es.seen.toarray().sum() == 1
    score = table_scorer({"a": [0, 1, 0, 0, 0, 0], "cold": [0, 0, 1, 0, 0, 0]})
    assert evaluate(score, es, ks=(1,))["recall@1"] == 1.0
    assert score.calls == [["a", "cold"]]  # unknown users reach score_fn as strings
    assert "1 users left without relevant" in es.summary()


def test_from_frames_validation():
    ok = frame([("a", "i0")])
    with pytest.raises(ValueError, match="missing column"):
        EvaluationSet.from_frames(ok.drop(columns="item_id"), ok, ["a"], ITEMS)
    with pytest.raises(ValueError, match="item_ids must be unique"):
        EvaluationSet.from_frames(ok, ok, ["a"], ["i0", "i0"])
    with pytest.raises(ValueError, match="no target user has a relevant item"):
        EvaluationSet.from_frames(ok, ok, ["a"], ITEMS)


def test_direct_construction_checks_invariants():
    users, items = np.array(["a"], object), np.array(ITEMS, object)
    one = np.zeros((1, 6), bool)
    one[0, 2] = True
    with pytest.raises(ValueError, match="no relevant item"):
        EvaluationSet(users, items, np.array([0]), one, np.zeros((1, 6), bool))
    with pytest.raises(ValueError, match="also seen"):
        EvaluationSet(users, items, np.array([0]), one, one)
    with pytest.raises(ValueError, match="shape"):
        EvaluationSet(users, items, np.array([0]), one[:, :5], one)


def test_evaluate_validation():
    es = EvaluationSet.from_frames(frame([]), frame([("a", "i0")]), ["a"], ITEMS)
    with pytest.raises(ValueError, match=r"shape \(1, 5\)"):
        evaluate(lambda u: np.zeros((1, 5)), es)
    with pytest.raises(ValueError, match="NaN"):
        evaluate(lambda u: np.full((1, 6), np.nan), es)
    with pytest.raises(ValueError, match="ks must be"):
        evaluate(lambda u: np.zeros((1, 6)), es, ks=(0,))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(lambda u: np.zeros((1, 6)), es, batch_size=0)


def brute_force(scores, seen, relevant, ks):
    """Scalar metrics on the explicit pessimistic ranking of unseen items."""
    out = {f"{m}@{k}": [] for k in ks for m in ("recall", "ndcg", "hit_rate")}
    out["mrr"] = []
    for u in range(scores.shape[0]):
        unseen = np.flatnonzero(~seen[u])
        # Higher score first; among ties non-relevant items first (pessimistic).
        order = np.lexsort((unseen, relevant[u, unseen], -scores[u, unseen]))
        ranking = unseen[order]
        rel = set(np.flatnonzero(relevant[u]).tolist())
        for k in ks:
            out[f"recall@{k}"].append(M.recall_at_k(ranking, rel, k))
            out[f"ndcg@{k}"].append(M.ndcg_at_k(ranking, rel, k))
            out[f"hit_rate@{k}"].append(M.hit_rate_at_k(ranking, rel, k))
        out["mrr"].append(M.reciprocal_rank(ranking, rel))
    return {key: float(np.mean(v)) for key, v in out.items()}


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_harness_matches_brute_force_with_ties_and_infinities(data):
    num_items = data.draw(st.integers(2, 20))
    n = data.draw(st.integers(1, 7))
    rng = np.random.default_rng(data.draw(st.integers(0, 10**6)))
    # Few distinct values -> many ties; -inf allowed as a score.
    scores = rng.choice(np.array([-np.inf, 0.0, 1.0, 2.0, 3.0]), size=(n, num_items))
    seen = rng.random((n, num_items)) < 0.3
    relevant = (rng.random((n, num_items)) < 0.3) & ~seen
    for u in range(n):  # every user needs an unseen relevant item
        if not relevant[u].any():
            j = rng.choice(np.flatnonzero(~seen[u])) if (~seen[u]).any() else 0
            seen[u, j], relevant[u, j] = False, True
    users = [f"u{u}" for u in range(n)]
    items = [f"i{j}" for j in range(num_items)]
    to_frame = lambda m: frame([(users[u], items[j]) for u, j in zip(*np.nonzero(m))])  # noqa: E731
    es = EvaluationSet.from_frames(to_frame(seen), to_frame(relevant), users, items)
    assert list(es.user_ids) == users
    ks = tuple(sorted(set(data.draw(st.lists(st.integers(1, num_items + 1), min_size=1, max_size=3)))))
    batch_size = data.draw(st.integers(1, 8))
    workspace = data.draw(st.sampled_from([1, num_items * 2, 1 << 22]))
    old = full_ranking.WORKSPACE_ELEMENTS
    full_ranking.WORKSPACE_ELEMENTS = workspace  # exercise row chunking inside a batch
    try:
        out = evaluate(lambda u: scores[[users.index(x) for x in u]], es, ks=ks, batch_size=batch_size)
    finally:
        full_ranking.WORKSPACE_ELEMENTS = old
    expected = brute_force(scores, seen, relevant, ks)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value), key
    assert out["users"] == n


def test_coverage_counts_distinct_items_in_top_k():
    es = EvaluationSet.from_frames(
        frame([]), frame([("a", "i0"), ("b", "i0")]), ["a", "b"], ITEMS
    )
    score = table_scorer({"a": [6, 5, 4, 3, 2, 1], "b": [1, 2, 3, 4, 5, 6]})
    out = evaluate(score, es, ks=(2,))
    assert out["coverage@2"] == pytest.approx(4 / 6)  # {i0, i1} and {i5, i4}


def test_large_catalogue_smoke():
    # 200K items x 300 users through the chunked path; random scores, known answer bounds.
    num_items, n = 200_000, 300
    items = [f"i{j}" for j in range(num_items)]
    users = [f"u{u}" for u in range(n)]
    rng = np.random.default_rng(0)
    target = frame([(u, items[j]) for u, j in zip(users, rng.integers(0, num_items, n))])
    seen = frame([(u, items[j]) for u in users for j in rng.integers(0, num_items, 20)])
    es = EvaluationSet.from_frames(seen, target, users, items)
    out = evaluate(lambda u: rng.random((len(u), num_items), dtype=np.float32), es, batch_size=128)
    # Random scores: expected recall@20 ~ 20 / 200K, MRR ~ ln(200K) / 200K.
    assert 0.0 <= out["recall@20"] < 0.02 and 0 < out["mrr"] < 0.02
    # Give every user's relevant item the top score: everything becomes perfect.
    relevant = es.target.tocsr()
    row_of = {u: r for r, u in enumerate(es.user_ids)}

    def oracle(u):
        s = rng.random((len(u), num_items), dtype=np.float32)
        rows = [row_of[x] for x in u]
        s[np.arange(len(u)), relevant[rows].indices] = 2.0
        return s

    best = evaluate(oracle, es, batch_size=128)
    assert best["recall@10"] == 1.0 and best["mrr"] == 1.0
    assert out["users"] == es.num_users


def test_format_table_and_save_json(tmp_path):
    results = {
        "popularity": {"recall@10": 0.12345, "mrr": 0.05, "users": 943},
        "two_tower": {"recall@10": 0.2, "mrr": float("nan"), "users": 943},
    }
    text = format_table(results, keys=["recall@10", "mrr", "users", "ndcg@10"])
    lines = text.splitlines()
    assert lines[0].split() == ["model", "recall@10", "mrr", "users", "ndcg@10"]
    assert lines[2].split() == ["popularity", "0.1235", "0.0500", "943", "-"]
    assert lines[3].split() == ["two_tower", "0.2000", "nan", "943", "-"]
    assert len({len(line) for line in lines}) == 1  # aligned
    path = tmp_path / "sub" / "results.json"
    save_json(results, str(path))
    loaded = json.loads(path.read_text())
    assert loaded["two_tower"]["mrr"] is None and loaded["popularity"]["users"] == 943
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp files left
