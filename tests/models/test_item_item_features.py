"""Item-item co-occurrence features: relations, lookups by history, refitting and standardising."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfrec.models.ease import EASE
from tfrec.models.item_item_features import ItemItemFeatures, strongest, transition_counts

ITEMS = ["a", "b", "c", "d", "e"]


def timelines(*users) -> pd.DataFrame:
    """Interactions from per-user item sequences (timestamps in list order, users interleaved)."""
    rows = [(f"u{n}", item, 10 * step + n) for n, items in enumerate(users) for step, item in enumerate(items)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).sample(frac=1.0, random_state=0)
    return frame.assign(rating=1.0)


def test_transitions_count_what_follows_within_the_window_of_each_user():
    frame = timelines("abc", "ab", "da")
    index = pd.Index(ITEMS)
    one = transition_counts(frame, index, window=1)
    expected = np.zeros((5, 5))
    expected[0, 1], expected[1, 2], expected[3, 0] = 2, 1, 1  # a→b twice, b→c, d→a; never c→d across users
    np.testing.assert_array_equal(one, expected)
    two = transition_counts(frame, index, window=2)
    expected[0, 2] = 1  # a→(b)→c
    np.testing.assert_array_equal(two, expected)


def test_strongest_keeps_the_largest_positive_entries_per_row():
    columns, values = strongest(np.array([[0.0, 3.0, -1.0, 2.0], [-1.0, -2.0, 0.0, 0.0]]), neighbours=3)
    assert columns[0, :2].tolist() in ([1, 3], [3, 1]) and columns[0, 2] == -1
    np.testing.assert_allclose(sorted(values[0]), [0.0, 2.0, 3.0])
    assert (columns[1] == -1).all() and (values[1] == 0).all()


def test_features_sum_the_relations_of_the_history_and_follow_a_refit():
    frame = timelines("abcd", "abce", "bcd", "acd", "be")
    layer = ItemItemFeatures(ITEMS, neighbours=len(ITEMS), ease_l2=1.0, window=2, recent=1).fit(frame)
    weights = EASE(ITEMS, 1.0).fit(frame).weights
    histories = tf.constant([["a", "b", "c"], ["", "", "b"], ["", "", ""], ["zz", "a", "b"]])
    out = layer.raw(histories, tf.constant(["d", "d", "d", "new"])).numpy()
    a, b, c, d = 0, 1, 2, 3
    np.testing.assert_allclose(out[0, 0], sum(max(weights[i, d], 0) for i in (a, b, c)), rtol=1e-5)
    np.testing.assert_allclose(out[0, 1], max(weights[c, d], 0), rtol=1e-5)  # the latest item only
    # Within two steps d follows b twice (u0, u2) and c three times (u0, u2, u3); a is out of the window.
    np.testing.assert_allclose(out[0, 2], np.log1p(2 + 3), rtol=1e-6)
    np.testing.assert_allclose(out[1, 2], np.log1p(2), rtol=1e-6)
    np.testing.assert_array_equal(out[2], [0, 0, 0])  # an empty history
    np.testing.assert_array_equal(out[3], [0, 0, 0])  # an unknown candidate
    # Rows sharing a history are summed once: a mixed batch gives each row what it gives alone.
    mixed_histories = tf.gather(histories, [0, 1, 0, 0, 1, 3])
    mixed_items = tf.constant(["d", "c", "e", "b", "d", "c"])
    alone = [layer.raw(mixed_histories[i:i + 1], mixed_items[i:i + 1]).numpy()[0] for i in range(6)]
    np.testing.assert_allclose(layer.raw(mixed_histories, mixed_items).numpy(), alone, rtol=1e-6)
    # Relations from other interactions: d now never comes after c.
    layer.fit(timelines("abc", "dc"))
    assert layer.raw(histories, tf.constant(["d", "d", "d", "new"])).numpy()[0, 2] == 0


def test_adapt_standardises_the_given_pairs_and_short_histories_work():
    frame = timelines("abcd", "abce", "bcd", "acd", "be")
    layer = ItemItemFeatures(ITEMS, neighbours=2, ease_l2=1.0).fit(frame)
    histories = np.array([["a", "b", "c"], ["", "a", "b"], ["", "", "c"], ["b", "c", "d"]] * 2, dtype=object)
    items = np.array(["d", "c", "d", "e", "e", "d", "a", "b"], dtype=object)
    layer.adapt(histories, items, batch_size=3)
    out = layer(tf.constant(histories), tf.constant(items)).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    informative = out.std(axis=0) > 0
    np.testing.assert_allclose(out.std(axis=0)[informative], 1.0, rtol=1e-4)
    assert informative.any()
    assert layer(tf.zeros([2, 0], tf.string), tf.constant(["a", "b"])).shape == (2, 3)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="neighbours"):
        ItemItemFeatures(ITEMS, neighbours=0)
