"""Explanations: each recommendation names the history item whose removal costs it the most score."""

import numpy as np
import tensorflow as tf

from tfrec.data.history import latest_items
from tfrec.export.explanations import BECAUSE, BECAUSE_SCORE, reasons, without_each


def test_each_history_without_one_item_shifts_the_older_items_up():
    history = tf.constant([["a", "b", "c"], ["", "x", "y"]])
    out = without_each(history, 3).numpy().astype(str).tolist()
    assert out == [["", "b", "c"], ["", "a", "c"], ["", "a", "b"],
                   ["", "x", "y"], ["", "", "y"], ["", "", "x"]]


def test_the_largest_drop_names_the_item_and_padding_or_no_drop_names_nothing():
    history = tf.constant([["", "a", "b"], ["", "", ""]])
    scores = tf.constant([[1.0, 2.0], [1.0, 1.0]])
    # Without the pad (column 0) the score would drop most, but padding is never a reason.
    without = tf.constant([[[-9.0, -9.0], [0.5, 2.5], [0.9, 1.0]],
                           [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])
    out = reasons(history, scores, without)
    assert out[BECAUSE].numpy().astype(str).tolist() == [["a", "b"], ["", ""]]
    np.testing.assert_allclose(out[BECAUSE_SCORE].numpy(), [[0.5, 1.0], [0.0, 0.0]])


def _ask(signature, users, histories, k):
    """The first ``k`` of each output (the signature answers the top ``max_k``)."""
    out = signature(user_id=tf.constant(users), history=tf.constant(histories))
    return {name: value.numpy()[:, :k] for name, value in out.items()}


def test_removing_the_named_item_lowers_the_score_by_the_stated_amount(served):
    """The reason is the model's own arithmetic: ask again without the named item and the
    recommendation scores exactly ``because_score`` lower; without any other item, no lower."""
    exp, signatures = served
    signature = signatures["with_history"]
    stored = latest_items(exp.dataset.interactions, 8)
    users = sorted(stored)[:6]
    checked = 0
    for user in users:
        history = [i for i in stored[user] if i]
        out = _ask(signature, [user], [history], 10)
        for item, score, because, drop in zip(out["item_ids"][0].astype(str), out["scores"][0],
                                              out[BECAUSE][0].astype(str), out[BECAUSE_SCORE][0]):
            if not because:
                assert drop == 0
                continue
            assert because in history and drop > 0
            for removed in dict.fromkeys(history):
                shorter = list(history)
                del shorter[len(shorter) - 1 - shorter[::-1].index(removed)]  # the newest occurrence
                again = _ask(signature, [user], [shorter], 40)
                rescored = dict(zip(again["item_ids"][0].astype(str), again["scores"][0]))
                if item not in rescored:
                    continue
                if removed == because and history.count(removed) == 1:
                    np.testing.assert_allclose(score - rescored[item], drop, rtol=1e-3, atol=1e-4)
                    checked += 1
                else:
                    assert score - rescored[item] <= drop + 1e-4
    assert checked >= 10, checked


def test_serving_default_explains_from_the_stored_history(served):
    exp, signatures = served
    stored = latest_items(exp.dataset.interactions, 8)
    out = signatures["serving_default"](user_id=tf.constant(["u1", "nobody"]))
    because = out[BECAUSE].numpy()[:, :10].astype(str)
    assert any(because[0]) and set(because[0]) - {""} <= set(stored["u1"])
    assert not any(because[1])  # a stranger has no history to owe anything to
