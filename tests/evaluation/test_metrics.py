"""Ranking metrics: hand-computed cases and batch == scalar properties."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrec.evaluation import metrics as M


def test_recall_hand_case():
    # relevant {1, 3, 9}; top-5 = [1, 2, 3, 4, 5] holds 1 and 3 -> 2/3.
    assert M.recall_at_k([1, 2, 3, 4, 5, 9], {1, 3, 9}, 5) == pytest.approx(2 / 3)
    # k=6 reaches 9 -> 3/3.
    assert M.recall_at_k([1, 2, 3, 4, 5, 9], {1, 3, 9}, 6) == pytest.approx(1.0)


def test_ndcg_relevant_at_ranks_1_and_3_of_k5():
    # DCG = 1/log2(2) + 1/log2(4); IDCG (2 relevant) = 1/log2(2) + 1/log2(3).
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at_k([7, 0, 8, 1, 2], {7, 8}, 5) == pytest.approx(expected)


def test_ndcg_idcg_capped_at_k():
    # 3 relevant, k=2, both slots relevant: IDCG over min(3, 2)=2 items -> 1.0.
    assert M.ndcg_at_k([1, 2, 3], {1, 2, 3}, 2) == pytest.approx(1.0)
    # Only rank 2 relevant of k=2, 3 relevant: (1/log2(3)) / (1 + 1/log2(3)).
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert M.ndcg_at_k([0, 2, 3], {2, 3, 4}, 2) == pytest.approx(expected)


def test_hit_rate_and_reciprocal_rank():
    assert M.hit_rate_at_k([4, 5, 6], {6}, 3) == 1.0
    assert M.hit_rate_at_k([4, 5, 6], {6}, 2) == 0.0
    # first relevant at position 3 -> 1/3 (the later relevant 9 does not matter).
    assert M.reciprocal_rank([4, 5, 6, 9], {9, 6}) == pytest.approx(1 / 3)
    assert M.reciprocal_rank([4, 5], {6}) == 0.0


def test_empty_relevant_is_nan_for_recall_and_ndcg():
    assert math.isnan(M.recall_at_k([1, 2], set(), 2))
    assert math.isnan(M.ndcg_at_k([1, 2], set(), 2))
    assert M.hit_rate_at_k([1, 2], set(), 2) == 0.0


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k_rejected(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        M.recall_at_k([1, 2], {1}, k)


def test_duplicate_ranked_items_rejected():
    with pytest.raises(ValueError, match="must not repeat"):
        M.recall_at_k([1, 1, 2], {1}, 3)


def test_batch_hand_case_sparse_and_dense():
    top = np.array([[7, 0, 8, 1, 2], [3, 4, 5, 6, 0]])
    dense = np.zeros((2, 10), dtype=bool)
    dense[0, [7, 8]] = True  # ranks 1 and 3
    dense[1, [9]] = True  # not retrieved
    for relevant in (dense, sp.csr_matrix(dense)):
        np.testing.assert_allclose(M.batch_recall_at_k(top, relevant), [1.0, 0.0])
        np.testing.assert_allclose(
            M.batch_ndcg_at_k(top, relevant), [(1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), 0.0]
        )
        np.testing.assert_allclose(M.batch_hit_rate_at_k(top, relevant, k=2), [1.0, 0.0])


def test_batch_validation():
    with pytest.raises(ValueError, match="rows"):
        M.batch_recall_at_k(np.zeros((2, 3), int), np.zeros((3, 5), bool))
    with pytest.raises(ValueError, match="outside"):
        M.batch_recall_at_k(np.array([[0, 9]]), np.zeros((1, 5), bool))
    with pytest.raises(ValueError, match="exceeds"):
        M.batch_recall_at_k(np.zeros((1, 2), int), np.zeros((1, 5), bool), k=3)


def test_metrics_from_ranks_hand_case():
    # user 0: relevant at ranks 1 and 3; user 1: single relevant at rank 50.
    out = M.metrics_from_ranks(np.array([1.0, 3.0, 50.0]), np.array([0, 0, 1]), 2, ks=(5,))
    np.testing.assert_allclose(out["recall@5"], [1.0, 0.0])
    np.testing.assert_allclose(out["ndcg@5"], [(1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)), 0.0])
    np.testing.assert_allclose(out["hit_rate@5"], [1.0, 0.0])
    np.testing.assert_allclose(out["rr"], [1.0, 1 / 50])


@st.composite
def ranking_batches(draw):
    num_items = draw(st.integers(1, 25))
    n = draw(st.integers(1, 6))
    width = draw(st.integers(1, num_items))
    seeds = draw(st.lists(st.integers(0, 2**31 - 1), min_size=n, max_size=n))
    top = np.stack([np.random.default_rng(s).permutation(num_items)[:width] for s in seeds])
    rel = np.array(
        draw(st.lists(st.lists(st.booleans(), min_size=num_items, max_size=num_items), min_size=n, max_size=n)),
        dtype=bool,
    )
    return top, rel


@settings(max_examples=150, deadline=None)
@given(ranking_batches(), st.data())
def test_batch_equals_scalar(batch, data):
    top, rel = batch
    k = data.draw(st.integers(1, top.shape[1]))
    relevant = sp.csr_matrix(rel) if data.draw(st.booleans()) else rel
    recall = M.batch_recall_at_k(top, relevant, k)
    ndcg = M.batch_ndcg_at_k(top, relevant, k)
    hit = M.batch_hit_rate_at_k(top, relevant, k)
    for u in range(top.shape[0]):
        rel_u = set(np.flatnonzero(rel[u]).tolist())
        assert recall[u] == pytest.approx(M.recall_at_k(top[u], rel_u, k), nan_ok=True)
        assert ndcg[u] == pytest.approx(M.ndcg_at_k(top[u], rel_u, k), nan_ok=True)
        assert hit[u] == M.hit_rate_at_k(top[u], rel_u, k)


@settings(max_examples=150, deadline=None)
@given(ranking_batches(), st.data())
def test_metrics_from_ranks_equals_scalar(batch, data):
    """Ranks of relevant items in a full ranking give the scalar metrics of that ranking."""
    _, rel = batch
    n, num_items = rel.shape
    ks = tuple(sorted(set(data.draw(st.lists(st.integers(1, num_items + 2), min_size=1, max_size=3)))))
    rankings = [np.random.default_rng(data.draw(st.integers(0, 10**6))).permutation(num_items) for _ in range(n)]
    rows, ranks = [], []
    for u, ranking in enumerate(rankings):
        positions = np.flatnonzero(rel[u][ranking]) + 1
        rows += [u] * len(positions)
        ranks += positions.tolist()
    out = M.metrics_from_ranks(np.array(ranks, float), np.array(rows, int), n, ks)
    for u, ranking in enumerate(rankings):
        rel_u = set(np.flatnonzero(rel[u]).tolist())
        for k in ks:
            assert out[f"recall@{k}"][u] == pytest.approx(M.recall_at_k(ranking, rel_u, k), nan_ok=True)
            assert out[f"ndcg@{k}"][u] == pytest.approx(M.ndcg_at_k(ranking, rel_u, k), nan_ok=True)
            assert out[f"hit_rate@{k}"][u] == M.hit_rate_at_k(ranking, rel_u, k)
        assert out["rr"][u] == pytest.approx(M.reciprocal_rank(ranking, rel_u))
