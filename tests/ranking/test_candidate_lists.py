"""Candidate lists and the two-stage scorer on a hand-made catalogue."""

import numpy as np
import pandas as pd
import pytest

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


def test_histories_stay_with_their_lists_and_lists_concatenate():
    seen = pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["a", "c"]})
    targets = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "item_id": ["zz", "f", "b"], "rating": [4.0, 2.0, 5.0]})
    histories = np.array([["", "a"], ["x", "y"], ["p", "q"]], dtype=object)
    # u1's target is not in the catalogue and u2's is not retrieved: only u3's list is left.
    lists = build_candidate_lists(RETRIEVAL, ITEMS, targets, seen, k=3, include_positive=False, histories=histories)
    assert lists.user_ids.tolist() == ["u3"] and lists.histories.tolist() == [["p", "q"]]
    assert lists.features()["history"].tolist() == [["p", "q"]]
    both = lists.concat(build_candidate_lists(RETRIEVAL, ITEMS, targets[1:2], seen, k=3, histories=histories[1:2]))
    assert both.user_ids.tolist() == ["u3", "u2"] and both.histories.tolist() == [["p", "q"], ["x", "y"]]
    assert both.counts["lists"] == 2 and both.item_ids.shape == (2, 3)
    with pytest.raises(ValueError, match="with and without histories"):
        lists.concat(build_candidate_lists(RETRIEVAL, ITEMS, targets[2:], seen, k=3))


def test_two_stage_scorer_ranks_only_the_retrieved_unseen_items():
    seen = pd.DataFrame({"user_id": ["u1"], "item_id": ["a"]})
    # The ranker reverses retrieval's order: it prefers later letters.
    rank = lambda users, items, scores: np.array([ord(i) for i in items], np.float32)  # noqa: E731
    scores = TwoStageScorer(RETRIEVAL, rank, ITEMS, seen, k=3)(np.array(["u1", "u2"], dtype=object))
    assert np.isinf(scores[0, [0, 4, 5]]).all() and np.isfinite(scores[0, [1, 2, 3]]).all()
    assert list(np.argsort(-scores[0])[:3]) == [3, 2, 1]  # d, c, b
    assert list(np.argsort(-scores[1])[:3]) == [2, 1, 0]  # c, b, a


def test_earlier_lists_target_items_their_retrieval_model_never_saw(tiny_listwise_run):
    """Each training list's target is one of its user's latest two training interactions, absent
    from everything the earlier retrieval model trained or validated on, and its history is
    exactly the four items before it."""
    from tfrec.training.ranking_experiment import RankingExperiment

    exp = RankingExperiment.from_run(str(tiny_listwise_run), log=lambda *_: None)
    lists = exp.earlier_lists(log=lambda *_: None)
    earlier, _ = exp.earlier_retrieval(log=lambda *_: None)
    assert earlier.config.data.drop_latest == 4  # + each user's test and validation item
    known = pd.concat([earlier.split.train, earlier.split.val, earlier.split.test])
    known_pairs = set(zip(known.user_id, known.item_id))
    assert len(lists) > 20 and (lists.engaged.sum(axis=1) == 1).all()
    timelines = {u: rows.item_id.tolist()
                 for u, rows in exp.base.split.train.sort_values(["user_id", "timestamp"], kind="stable")
                 .groupby("user_id")}
    for user, items, engaged, history in zip(lists.user_ids, lists.item_ids, lists.engaged, lists.histories):
        timeline, target = timelines[user], items[engaged == 1][0]
        assert target in timeline[-2:]
        if timeline.count(target) == 1:  # the user met the item once: its position is unambiguous
            assert (user, target) not in known_pairs
            before = timeline[:timeline.index(target)][-4:]
            assert list(history) == [""] * (4 - len(before)) + before
