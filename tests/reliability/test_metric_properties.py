"""Property tests of the ranking metrics: bounds, invariances and perfect rankings.

Hypothesis draws catalogues, rankings and relevant sets; every drawn example
must keep recall/NDCG/hit rate/reciprocal rank within [0, 1], give 1 for a
ranking that puts the relevant items first, ignore any reordering below the
cut-off k, and agree between the scalar, batch and rank-based versions.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability.tally import TALLY
from tfrec.evaluation.metrics import (batch_ndcg_at_k, batch_recall_at_k, hit_rate_at_k, metrics_from_ranks,
                                      ndcg_at_k, recall_at_k, reciprocal_rank)

EXAMPLES = 200


@st.composite
def rankings(draw):
    """(ranked permutation of the catalogue, relevant set, k)."""
    n = draw(st.integers(1, 40))
    ranked = draw(st.permutations(list(range(n))))
    relevant = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))
    k = draw(st.integers(1, n + 5))
    return list(ranked), relevant, k


@settings(max_examples=EXAMPLES, deadline=None)
@given(rankings())
def test_metrics_are_within_bounds(example):
    ranked, relevant, k = example
    TALLY.count("inputs", "metric property examples (hypothesis)", examples=1)
    for value in (recall_at_k(ranked, relevant, k), ndcg_at_k(ranked, relevant, k),
                  hit_rate_at_k(ranked, relevant, k), reciprocal_rank(ranked, relevant)):
        assert 0.0 <= value <= 1.0 + 1e-12


@settings(max_examples=EXAMPLES, deadline=None)
@given(rankings())
def test_perfect_ranking_scores_one(example):
    ranked, relevant, k = example
    TALLY.count("inputs", "metric property examples (hypothesis)", examples=1)
    perfect = sorted(relevant) + [i for i in ranked if i not in relevant]
    assert math.isclose(ndcg_at_k(perfect, relevant, k), 1.0)
    assert math.isclose(recall_at_k(perfect, relevant, k), min(len(relevant), k) / len(relevant))
    assert reciprocal_rank(perfect, relevant) == 1.0


@settings(max_examples=EXAMPLES, deadline=None)
@given(rankings(), st.randoms(use_true_random=False))
def test_reordering_below_k_changes_nothing(example, rng):
    ranked, relevant, k = example
    TALLY.count("inputs", "metric property examples (hypothesis)", examples=1)
    tail = ranked[k:]
    rng.shuffle(tail)
    reordered = ranked[:k] + tail
    assert ndcg_at_k(reordered, relevant, k) == ndcg_at_k(ranked, relevant, k)
    assert recall_at_k(reordered, relevant, k) == recall_at_k(ranked, relevant, k)


@settings(max_examples=EXAMPLES, deadline=None)
@given(rankings())
def test_batch_and_rank_based_versions_agree_with_the_reference(example):
    ranked, relevant, k = example
    TALLY.count("inputs", "metric property examples (hypothesis)", examples=1)
    n = len(ranked)
    k = min(k, n)
    dense = np.zeros((1, n), dtype=bool)
    dense[0, sorted(relevant)] = True
    top = np.asarray([ranked[:k]])
    assert math.isclose(batch_ndcg_at_k(top, dense, k)[0], ndcg_at_k(ranked, relevant, k))
    assert math.isclose(batch_recall_at_k(top, dense, k)[0], recall_at_k(ranked, relevant, k))
    position = {item: i + 1 for i, item in enumerate(ranked)}
    ranks = np.asarray([position[i] for i in sorted(relevant)], dtype=np.float64)
    from_ranks = metrics_from_ranks(ranks, np.zeros(len(ranks), dtype=np.int64), 1, [k])
    assert math.isclose(from_ranks[f"ndcg@{k}"][0], ndcg_at_k(ranked, relevant, k))
    assert math.isclose(from_ranks["rr"][0], reciprocal_rank(ranked, relevant))
