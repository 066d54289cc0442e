import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrec.models.feature_encoders import BagEmbedding, IdEmbedding
from tfrec.models.retrieval import SAMPLING_PROBABILITY, RetrievalModel
from tfrec.models.towers import Tower


def _model(logq=True, remove_hits=True, temperature=1.0):
    keras.utils.set_random_seed(0)
    query = Tower({"user_id": IdEmbedding(["a", "b", "c"], 8)}, output_dim=8, name="q")
    candidate = Tower({"item_id": IdEmbedding(["x", "y", "z"], 8),
                       "item_genres": BagEmbedding(["g1", "g2"], 4)}, output_dim=8, name="c")
    return RetrievalModel(query, candidate, temperature=temperature, logq_correction=logq,
                          remove_accidental_hits=remove_hits)


def _batch(items=("x", "y", "z"), probability=(0.5, 0.3, 0.2)):
    return {
        "user_id": tf.constant(["a", "b", "c"]),
        "item_id": tf.constant(list(items)),
        "item_genres": tf.constant(["g1|g2", "", "g2"]),
        SAMPLING_PROBABILITY: tf.constant(probability, tf.float32),
    }


def test_unknown_ids_and_empty_bags_embed_without_error():
    model = _model()
    out = model.candidate_tower({"item_id": tf.constant(["never-seen", "x"]), "item_genres": tf.constant(["", "??"])})
    assert out.shape == (2, 8) and np.isfinite(out.numpy()).all()
    np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=1), 1.0, rtol=1e-5)


def test_logq_correction_changes_the_loss_and_ignores_uniform_probabilities():
    plain = float(_model(logq=False).compute_loss(_batch()))
    corrected = float(_model(logq=True).compute_loss(_batch()))
    uniform = float(_model(logq=True).compute_loss(_batch(probability=(0.2, 0.2, 0.2))))
    assert abs(plain - corrected) > 1e-4
    # A constant log-probability shifts every logit equally: softmax is unchanged.
    np.testing.assert_allclose(uniform, plain, rtol=1e-5)


def test_accidental_hits_are_removed():
    # Rows 0 and 1 share item x: without removal, each is the other's negative.
    batch = _batch(items=("x", "x", "z"))
    with_removal = float(_model(remove_hits=True, logq=False).compute_loss(batch))
    without = float(_model(remove_hits=False, logq=False).compute_loss(batch))
    assert with_removal < without


def test_fit_reduces_the_loss():
    model = _model(temperature=0.2)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    ds = tf.data.Dataset.from_tensors(_batch()).repeat(30)
    history = model.fit(ds, epochs=1, verbose=0)
    first = float(model.compute_loss(_batch()))
    model.fit(ds, epochs=2, verbose=0)
    assert float(model.compute_loss(_batch())) < first
    assert history.history["loss"][0] > 0


def test_tower_rejects_missing_features():
    model = _model()
    try:
        model.query_tower({"item_id": tf.constant(["x"])})
    except ValueError as e:
        assert "user_id" in str(e)
    else:
        raise AssertionError("a tower without its feature must fail")


def test_item_bias_adds_a_learned_prior_to_the_dot_product():
    keras.utils.set_random_seed(0)
    query = Tower({"user_id": IdEmbedding(["a", "b", "c"], 8)}, output_dim=8, constant=0.1, name="q")
    candidate = Tower({"item_id": IdEmbedding(["x", "y", "z"], 8)}, output_dim=8, bias=True, name="c")
    batch = _batch()
    q, c = query(batch).numpy(), candidate(batch).numpy()
    assert q.shape == c.shape == (3, 9)
    np.testing.assert_allclose(q[:, -1], 0.1)
    # At the start the bias is the log sampling probability: the popularity the
    # log-Q correction removes from the logits is handed back as a prior.
    np.testing.assert_allclose(c[:, -1], np.log([0.5, 0.3, 0.2]), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(c[:, :-1], axis=1), 1.0, rtol=1e-5)


def test_id_skip_adds_the_id_embedding_past_the_mlp():
    """Two items with the same features get the same MLP output; the skip path alone tells them apart."""
    features = {"item_id": tf.constant(["a", "b"]), "item_genres": tf.constant(["x", "x"])}
    genres = BagEmbedding(["x", "y"], 4, name="item_genres")
    plain = Tower({"item_genres": genres}, hidden_dims=[8], output_dim=4, l2_normalize=False)
    skip = IdEmbedding(["a", "b"], 4, name="item_id_skip")
    tower = Tower({"item_genres": genres}, hidden_dims=[8], output_dim=4, l2_normalize=False,
                  skip={"item_id": skip})
    out = tower(features).numpy()
    plain(features)
    plain.mlp.set_weights(tower.mlp.get_weights())
    base = plain(features).numpy()
    np.testing.assert_allclose(base[0], base[1])
    np.testing.assert_allclose(out, base + skip(features["item_id"]).numpy(), rtol=1e-6)
    assert not np.allclose(out[0], out[1])


class _RowCounter(keras.layers.Layer):
    """An id embedding that records how many rows each call embeds."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.rows = inner, []

    def call(self, ids, training=False):
        self.rows.append(int(ids.shape[0]))
        return self.inner(ids, training=training)


def test_a_deduplicating_tower_embeds_each_item_once_and_matches_the_plain_tower():
    features = {"item_id": tf.constant(["a", "b", "a", "c", "a", "b"]),
                "item_genres": tf.constant(["x", "y", "x", "x|y", "x", "y"]),
                "user_id": tf.constant(["u1", "u2", "u3", "u4", "u5", "u6"])}
    counter = _RowCounter(IdEmbedding(["a", "b", "c"], 4), name="item_id")
    encoders = {"item_id": counter, "item_genres": BagEmbedding(["x", "y"], 4, name="item_genres")}
    deduped = Tower(encoders, hidden_dims=[8], output_dim=4, dedupe_key="item_id")
    plain = Tower(encoders, hidden_dims=[8], output_dim=4)
    with tf.GradientTape(persistent=True) as tape:
        out = deduped(features, training=True)
        plain(features)  # builds its own MLP (the encoders are shared), given the same weights next
        plain.mlp.set_weights(deduped.mlp.get_weights())
        base = plain(features, training=True)
        loss_deduped = tf.reduce_sum(out * tf.range(1.0, 7.0)[:, None])
        loss_plain = tf.reduce_sum(base * tf.range(1.0, 7.0)[:, None])
    assert counter.rows[:2] == [3, 6]  # training: a, b, c once each; the plain tower embeds all six rows
    deduped(features)
    assert counter.rows[-1] == 6  # inference embeds every row as given
    np.testing.assert_allclose(out.numpy(), base.numpy(), rtol=1e-6)
    for got, want in zip(tape.gradient(loss_deduped, deduped.trainable_variables),
                         tape.gradient(loss_plain, plain.trainable_variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(got).numpy(), tf.convert_to_tensor(want).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_bag_embedding_is_the_mean_over_known_and_unknown_tokens_and_zero_for_an_empty_bag():
    bag = BagEmbedding(["x", "y"], 3, name="item_genres")
    out = bag(tf.constant(["x|y", "x", "", "x||zz", "|"])).numpy()
    table = bag.embedding.embeddings.numpy()  # row 0: the unknown token, then x, y
    np.testing.assert_allclose(out[0], (table[1] + table[2]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[1], table[1], rtol=1e-6)
    np.testing.assert_allclose(out[2], 0.0)
    np.testing.assert_allclose(out[3], (table[1] + table[0]) / 2, rtol=1e-6)  # empty pieces are not tokens
    np.testing.assert_allclose(out[4], 0.0)
    words = BagEmbedding(["toy", "story"], 3, splitter="words", name="item_title")
    titles = words(tf.constant(["Toy Story (1995)", "   "])).numpy()
    table = words.embedding.embeddings.numpy()
    np.testing.assert_allclose(titles[0], (table[1] + table[2] + table[0]) / 3, rtol=1e-6)  # 1995 is unknown
    np.testing.assert_allclose(titles[1], 0.0)
