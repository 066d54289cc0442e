"""Novelty, popularity lift and intra-list diversity: small cases whose values follow from the definitions."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from tfrec.evaluation import beyond_accuracy as B
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate


def _fixed_scores(rows: dict[str, list[float]]):
    """A score function returning the given per-user scores."""
    return lambda users: np.array([rows[u] for u in users], dtype=np.float32)


def test_novelty_is_mean_self_information_of_training_shares():
    counts = np.array([6, 2, 1, 1, 0])  # 10 training interactions; item 4 never seen (counts as once)
    top = np.array([[0, 1], [2, 4]])
    valid = np.ones_like(top, dtype=bool)
    expected = [(-math.log2(6 / 10) - math.log2(2 / 10)) / 2, (-math.log2(1 / 10) - math.log2(1 / 10)) / 2]
    np.testing.assert_allclose(B.novelty(top, valid, counts), expected)
    # An entry that is not valid (a seen item filling the list) does not count; no valid entry is NaN.
    valid = np.array([[True, False], [False, False]])
    result = B.novelty(top, valid, counts)
    assert result[0] == pytest.approx(-math.log2(6 / 10)) and math.isnan(result[1])


def test_diversity_is_the_share_of_pairs_with_different_categories():
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "kind": ["x", "x", "y", "z"]})
    props = B.ItemProperties.from_catalogue(["a", "b", "c", "d"], pd.Series([1, 1, 1, 1], index=list("abcd")),
                                            items, "kind")
    top = np.array([[0, 1, 2], [0, 1, 3], [2, 3, 0]])
    valid = np.ones_like(top, dtype=bool)

    def share_different(row):
        kinds = [items.kind[i] for i in row]
        pairs = list(itertools.combinations(kinds, 2))
        return sum(p != q for p, q in pairs) / len(pairs)

    np.testing.assert_allclose(B.intra_list_diversity(top, valid, props.categories),
                               [share_different(row) for row in top])


def test_diversity_of_multi_valued_categories_is_the_mean_jaccard_distance():
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "genres": ["Drama|Crime", "Crime", "Comedy", ""]})
    props = B.ItemProperties.from_catalogue(["a", "b", "c", "d"], pd.Series([1, 1, 1, 1], index=list("abcd")),
                                            items, "genres")
    sets = [{"Drama", "Crime"}, {"Crime"}, {"Comedy"}]
    pairs = list(itertools.combinations(sets, 2))
    expected = sum(1 - len(p & q) / len(p | q) for p, q in pairs) / len(pairs)
    # Item d has no category: left out of the pairs, so the list [a, b, c, d] scores like [a, b, c].
    top = np.array([[0, 1, 2, 3], [3, 0, 1, 2]])
    result = B.intra_list_diversity(top, np.ones_like(top, dtype=bool), props.categories)
    np.testing.assert_allclose(result, [expected, expected])
    # Fewer than two categorised, valid items: no pair, no value.
    valid = np.array([[True, False, False, True], [True, True, True, True]])
    assert math.isnan(B.intra_list_diversity(top, valid, props.categories)[0])


def test_diversity_in_chunks_matches_a_pair_by_pair_count(monkeypatch):
    rng = np.random.default_rng(0)
    categories = rng.integers(0, 4, size=50)
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(50)], "c": [f"c{v}" for v in categories]})
    props = B.ItemProperties.from_catalogue(items.item_id, pd.Series(np.ones(50), index=items.item_id), items, "c")
    top = np.stack([rng.choice(50, size=6, replace=False) for _ in range(40)])
    valid = rng.random(top.shape) > 0.2
    monkeypatch.setattr(B, "_WORKSPACE", 100)  # a few users per chunk
    expected = []
    for row, ok in zip(top, valid):
        kept = [categories[i] for i, v in zip(row, ok) if v]
        pairs = list(itertools.combinations(kept, 2))
        expected.append(sum(p != q for p, q in pairs) / len(pairs) if pairs else np.nan)
    np.testing.assert_allclose(B.intra_list_diversity(top, valid, props.categories), expected)


def test_the_harness_reports_the_metrics_on_its_top_k_with_seen_items_left_out():
    # Four items with training counts 8, 4, 2, 2; each user has one seen item, ranked first by its scores.
    counts = pd.Series([8, 4, 2, 2], index=["i0", "i1", "i2", "i3"])
    items = pd.DataFrame({"item_id": counts.index, "kind": ["x", "x", "y", "y"]})
    seen = pd.DataFrame({"user_id": ["A", "B"], "item_id": ["i0", "i3"]})
    target = pd.DataFrame({"user_id": ["A", "B"], "item_id": ["i2", "i1"]})
    eval_set = EvaluationSet.from_frames(seen, target, user_ids=["A", "B"], item_ids=counts.index)
    scores = {"A": [9.0, 3.0, 2.0, 1.0], "B": [2.0, 1.0, 0.0, 9.0]}
    props = B.ItemProperties.from_catalogue(counts.index, counts, items, "kind")
    results = evaluate(_fixed_scores(scores), eval_set, ks=(2,), items=props)

    top2 = {"A": ["i1", "i2"], "B": ["i0", "i1"]}  # the two best unseen items of each user
    history = {"A": ["i0"], "B": ["i3"]}
    share = counts / counts.sum()
    novelty = np.mean([np.mean([-math.log2(share[i]) for i in top2[u]]) for u in "AB"])
    gap_r = np.mean([np.mean([counts[i] for i in top2[u]]) for u in "AB"])
    gap_p = np.mean([np.mean([counts[i] for i in history[u]]) for u in "AB"])
    kind = dict(zip(items.item_id, items.kind))
    diversity = np.mean([float(kind[top2[u][0]] != kind[top2[u][1]]) for u in "AB"])
    assert results["novelty@2"] == pytest.approx(novelty)
    assert results["popularity_lift@2"] == pytest.approx(gap_r / gap_p)
    assert results["diversity@2"] == pytest.approx(diversity)
    # Without categories there is no diversity; without item properties none of the three.
    no_categories = B.ItemProperties.from_catalogue(counts.index, counts, items, None)
    assert "diversity@2" not in evaluate(_fixed_scores(scores), eval_set, ks=(2,), items=no_categories)
    plain = evaluate(_fixed_scores(scores), eval_set, ks=(2,))
    assert not {"novelty@2", "popularity_lift@2"} & set(plain)
