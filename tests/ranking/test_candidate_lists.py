"""Candidate lists and the two-stage scorer on a hand-made catalogue."""

import numpy as np
import pandas as pd

from tfrec.data.candidate_lists import build_candidate_lists
from tfrec.evaluation.two_stage_scorer import TwoStageScorer

ITEMS = np.array(["a", "b", "c", "d", "e", "f"], dtype=object)
# Retrieval prefers a > b > c > d > e > f for everyone.
RETRIEVAL = lambda users: np.tile(np.array([6, 5, 4, 3, 2, 1], np.float32), (len(users), 1))  # noqa: E731


def test_lists_exclude_seen_items_and_mark_the_target():
    seen = pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["a", "c"]})
    targets = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["d", "f"], "rating": [4.0, 2.0]})
    lists = build_candidate_lists(RETRIEVAL, ITEMS, targets, seen, k=3, include_positive=True)
    assert lists.item_ids.tolist() == [["b", "d", "e"], ["a", "b", "f"]]  # u2's target inserted last
    assert lists.engaged.tolist() == [[0, 1, 0], [0, 0, 1]]
    assert lists.ratings.tolist() == [[0, 4, 0], [0, 0, 2]]
    assert lists.retrieval_scores.tolist() == [[5, 3, 2], [6, 5, 1]]
    assert lists.counts["target_retrieved"] == 1 and lists.counts["target_inserted"] == 1

    dropped = build_candidate_lists(RETRIEVAL, ITEMS, targets, seen, k=3, include_positive=False)
    assert dropped.user_ids.tolist() == ["u1"] and dropped.counts["dropped"] == 1


def test_two_stage_scorer_ranks_only_the_retrieved_unseen_items():
    seen = pd.DataFrame({"user_id": ["u1"], "item_id": ["a"]})
    # The ranker reverses retrieval's order: it prefers later letters.
    rank = lambda users, items, scores: np.array([ord(i) for i in items], np.float32)  # noqa: E731
    scores = TwoStageScorer(RETRIEVAL, rank, ITEMS, seen, k=3)(np.array(["u1", "u2"], dtype=object))
    assert np.isinf(scores[0, [0, 4, 5]]).all() and np.isfinite(scores[0, [1, 2, 3]]).all()
    assert list(np.argsort(-scores[0])[:3]) == [3, 2, 1]  # d, c, b
    assert list(np.argsort(-scores[1])[:3]) == [2, 1, 0]  # c, b, a
