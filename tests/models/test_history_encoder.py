import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrec.models.history_encoder import HistoryEncoder

VOCAB = ["a", "b", "c", "d"]


@pytest.mark.parametrize("kind", ["transformer", "gru", "mean"])
def test_unknown_items_and_padding_are_ignored(kind):
    keras.utils.set_random_seed(0)
    encoder = HistoryEncoder(VOCAB, dim=8, length=4, kind=kind, dropout=0.0)
    plain = encoder(tf.constant([["", "", "a", "b"]])).numpy()
    noisy = encoder(tf.constant([["zzz", "", "a", "b"]])).numpy()
    np.testing.assert_allclose(plain, noisy, atol=1e-6)
    nothing = encoder(tf.constant([["", "zzz", "", "?"]])).numpy()
    np.testing.assert_array_equal(nothing, np.zeros_like(nothing))


@pytest.mark.parametrize("kind", ["transformer", "gru"])
def test_order_and_recency_matter(kind):
    keras.utils.set_random_seed(0)
    encoder = HistoryEncoder(VOCAB, dim=8, length=3, kind=kind, dropout=0.0)
    out = encoder(tf.constant([["a", "b", "c"], ["c", "b", "a"], ["b", "c", "d"]])).numpy()
    assert not np.allclose(out[0], out[1], atol=1e-4)
    assert not np.allclose(out[0], out[2], atol=1e-4)


def test_longer_histories_are_cut_to_the_latest_items_and_content_is_used():
    keras.utils.set_random_seed(0)
    vectors = np.eye(4, dtype=np.float32)
    encoder = HistoryEncoder(VOCAB, dim=8, length=2, kind="mean", dropout=0.0,
                             content_ids=np.array(VOCAB, dtype=object), content_vectors=vectors)
    long = encoder(tf.constant([["a", "b", "c", "d"]])).numpy()
    short = encoder(tf.constant([["c", "d"]])).numpy()
    np.testing.assert_allclose(long, short, atol=1e-6)
    assert len(encoder.trainable_weights) == 3  # id embedding + content projection kernel and bias
