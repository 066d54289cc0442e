"""The ranking model's pieces on hand-computed cases: RMSE, listwise losses, NDCG, list flattening."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfrec.evaluation.ranking_evaluation import rmse
from tfrec.models.listwise import listmle_loss, ndcg_at_k, softmax_list_loss
from tfrec.models.ranking import RATING, flatten_lists


def test_rmse_hand_case():
    assert rmse([1, 2, 3, 4], [1, 2, 3, 6]) == pytest.approx(1.0)  # sqrt(4 / 4)
    assert rmse([5.0, 1.0], [4.0, 2.0]) == pytest.approx(1.0)
    assert rmse([3.0, 3.0, 3.0], [2.0, 3.0, 5.0]) == pytest.approx(math.sqrt(5 / 3))
    with pytest.raises(ValueError, match="equal"):
        rmse([1, 2], [1])


def test_rating_task_reports_rmse(tiny_ranking_run):
    from tfrec.training.ranking_experiment import RankingExperiment

    exp = RankingExperiment.from_run(str(tiny_ranking_run), log=lambda *_: None)
    model = exp.load_model(str(tiny_ranking_run))
    task = model.tasks[RATING]
    for metric in task.metrics:
        metric.reset_state()
    task(tf.constant([3.0, 3.0, 3.0]), tf.constant([2.0, 3.0, 5.0]))
    (metric,) = [m for m in task.metrics if m.name == "rmse"]
    assert metric.result().numpy() == pytest.approx(math.sqrt(5 / 3), rel=1e-6)


def test_softmax_list_loss_hand_case():
    scores = tf.constant([[0.0, math.log(3.0)]])  # softmax = [1/4, 3/4]
    assert softmax_list_loss(tf.constant([[0.0, 1.0]]), scores).numpy()[0] == pytest.approx(-math.log(0.75))
    assert softmax_list_loss(tf.constant([[1.0, 0.0]]), scores).numpy()[0] == pytest.approx(-math.log(0.25))
    assert softmax_list_loss(tf.constant([[0.0, 0.0]]), scores).numpy()[0] == 0.0  # no relevant item


def test_listmle_hand_case():
    # Labels order the items (b, a): -log[e^sb / (e^sa + e^sb)] - log[e^sa / e^sa].
    scores = tf.constant([[1.0, 2.0]])
    expected = -math.log(math.exp(2) / (math.exp(1) + math.exp(2)))
    assert listmle_loss(tf.constant([[0.0, 1.0]]), scores).numpy()[0] == pytest.approx(expected, rel=1e-5)


def test_ndcg_hand_case():
    labels = tf.constant([[0.0, 1.0, 0.0, 1.0]])
    scores = tf.constant([[4.0, 3.0, 2.0, 1.0]])  # relevant at ranks 2 and 4
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(labels, scores, 10).numpy()[0] == pytest.approx(dcg / idcg, rel=1e-6)
    assert ndcg_at_k(labels, scores, 1).numpy()[0] == 0.0
    assert ndcg_at_k(tf.zeros([1, 4]), scores, 10).numpy()[0] == 0.0


def test_flatten_lists_repeats_user_features():
    flat, shape = flatten_lists({
        "user_id": tf.constant(["u1", "u2"]), "user_age": tf.constant([1.0, 2.0]),
        "item_id": tf.constant([["a", "b", "c"], ["d", "e", "f"]]),
        "item_text_vector": tf.zeros([2, 3, 5]),
        "history": tf.constant([["a", "b"], ["", "c"]]),
    })
    assert list(shape.numpy()) == [2, 3]
    assert [u.decode() for u in flat["user_id"].numpy()] == ["u1"] * 3 + ["u2"] * 3
    assert [i.decode() for i in flat["item_id"].numpy()] == list("abcdef")
    assert flat["item_text_vector"].shape == (6, 5)
    np.testing.assert_array_equal(flat["user_age"].numpy(), [1, 1, 1, 2, 2, 2])
    assert flat["history"].numpy().astype(str).tolist() == [["a", "b"]] * 3 + [["", "c"]] * 3


def test_activity_features_hand_case():
    import pandas as pd

    from tfrec.models.activity_features import DAY, ActivityFeatures

    train = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["a", "b", "a"],
                          "timestamp": [0, int(2 * DAY), int(4 * DAY)], "rating": [1.0, 1.0, 1.0]})
    layer = ActivityFeatures(train)
    out = layer(tf.constant(["u1", "u2", "nobody"]), tf.constant(["a", "b", "new"])).numpy()
    assert out.shape == (3, 4)
    # User latest times are 2 and 4 days: standardised to -1 and +1; an unknown user gets the mean (0).
    np.testing.assert_allclose(out[:, 0], [-1.0, 1.0, 0.0], atol=1e-6)
    # Item median times: a = 2 days, b = 2 days (no spread: std 1), unknown = the mean.
    np.testing.assert_allclose(out[:, 1], [0.0, 0.0, 0.0], atol=1e-6)
    # Log counts: a = log 3, b = log 2, unknown item = log 1 = 0 (never interacted), standardised.
    mean, std = np.mean([np.log(3), np.log(2)]), np.std([np.log(3), np.log(2)])
    np.testing.assert_allclose(out[:, 2], [(np.log(3) - mean) / std, (np.log(2) - mean) / std, -mean / std],
                               rtol=1e-5)
