"""Recent history in the exported retrieval model: fresh events change the recommendations."""

import numpy as np
import tensorflow as tf

from tfrec.data.history import latest_items


def _top(signature, users, histories, k=10):
    out = signature(user_id=tf.constant(users), history=tf.constant(histories))
    return out["item_ids"].numpy()[:, :k].astype(str)


def _items_of(exp, category, n):
    items = exp.dataset.items
    popular = exp.split.train.item_id.value_counts().index
    in_category = set(items.item_id[items.category == category])
    return [i for i in popular if i in in_category][:n]


def test_a_different_recent_history_gives_a_different_top_10(served):
    exp, signatures = served
    categories = sorted(exp.dataset.items.category.unique())
    first, second = _items_of(exp, categories[0], 8), _items_of(exp, categories[1], 8)
    top = _top(signatures["with_history"], ["u1", "u1"], [first, second])
    assert list(top[0]) != list(top[1])
    assert not set(top[0]) & set(first) and not set(top[1]) & set(second)  # history is not recommended back


def test_a_brand_new_users_history_predicts_their_next_item(served):
    """Real test users, presented as strangers: their recent items alone must find the
    next item more often than the out-of-vocabulary user with no history does."""
    exp, signatures = served
    test = exp.split.test
    recent = latest_items(exp.seen_before_test(), 8)
    strangers = [f"stranger-{u}" for u in test.user_id]
    with_history = _top(signatures["with_history"], strangers, [list(recent[u]) for u in test.user_id], k=20)
    without = _top(signatures["with_history"], strangers, [[""] * 8] * len(test), k=20)
    hits = np.mean([item in row for item, row in zip(test.item_id, with_history)])
    oov_only = np.mean([item in row for item, row in zip(test.item_id, without)])
    print(f"hit rate@20 with history {hits:.3f}, without {oov_only:.3f}")
    assert hits > oov_only, (hits, oov_only)


def test_serving_default_uses_the_stored_history(served):
    exp, signatures = served
    users = ["u1", "u2", "u3"]
    stored = latest_items(exp.dataset.interactions, 8)
    default = signatures["serving_default"](user_id=tf.constant(users))
    explicit = _top(signatures["with_history"], users, [list(stored[u]) for u in users])
    assert (default["item_ids"].numpy()[:, :10].astype(str) == explicit).all()


def test_unknown_items_and_empty_histories_are_not_errors(served):
    _, signatures = served
    top = _top(signatures["with_history"], ["u1"], [["no-such-item", "", "another-unknown"]])
    assert top.shape == (1, 10)
    empty = signatures["with_history"](user_id=tf.constant(["u1"]), history=tf.zeros([1, 0], tf.string))
    assert empty["item_ids"].shape == (1, 40)


def test_an_empty_batch_answers_empty_outputs_in_every_signature(served):
    """TF Serving passes a [0] batch to the graph as it is; every output is then [0, ...], reasons too."""
    _, signatures = served
    outputs = {"serving_default": signatures["serving_default"](user_id=tf.constant([], tf.string)),
               "with_history": signatures["with_history"](user_id=tf.constant([], tf.string),
                                                          history=tf.zeros([0, 3], tf.string))}
    for name, out in outputs.items():
        assert out and all(tensor.shape[0] == 0 for tensor in out.values()), name
    assert "because" in outputs["with_history"]
