"""The TFRS basic-retrieval tutorial model: tutorial settings, training, and harness-shaped scores."""

import numpy as np
import pandas as pd
import pytest

from tfrec.evaluation.full_ranking import EvaluationSet, evaluate
from tfrec.models.tfrs_tutorial import TFRSTutorialBaseline

ITEMS = [f"m{k}" for k in range(30)]


def tiny_frame(seed=0):
    """60 users in 3 groups, each group watching its own 10 movies."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(60):
        block = (u % 3) * 10
        for k in rng.choice(10, 6, replace=False):
            users.append(f"u{u}")
            items.append(ITEMS[block + k])
    return pd.DataFrame({"user_id": users, "item_id": items})


def test_defaults_are_the_tutorial_settings():
    model = TFRSTutorialBaseline(ITEMS)
    assert (model.embedding_dim, model.learning_rate, model.batch_size, model.epochs) == (32, 0.1, 8192, 3)
    assert model.shuffle_buffer == 100_000


def test_trains_and_scores_the_whole_catalogue():
    train = tiny_frame()
    model = TFRSTutorialBaseline(ITEMS, batch_size=64, epochs=4, seed=1).fit(train)
    task = model.model.task
    assert task._temperature is None and not task._remove_accidental_hits and task._num_hard_negatives is None
    assert model.model.user_model.layers[1].input_dim == 60 + 2  # vocabulary + mask + OOV rows
    losses = model.history["loss"]
    assert len(losses) == 4 and np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    scores = model.score(np.array(["u0", "u1", "stranger"], dtype=object))
    assert scores.shape == (3, len(ITEMS)) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores))
    # Plugs into the harness.
    target = pd.DataFrame({"user_id": ["u0"], "item_id": [next(i for i in ITEMS[:10] if not (
        (train.user_id == "u0") & (train.item_id == i)).any())]})
    out = evaluate(model, EvaluationSet.from_frames(train, target, train.user_id.unique(), ITEMS), ks=(5,))
    assert out["users"] == 1 and 0.0 <= out["ndcg@5"] <= 1.0


def test_validation():
    with pytest.raises(ValueError, match="unique"):
        TFRSTutorialBaseline(["a", "a"])
    for kwargs, match in [({"embedding_dim": 0}, "embedding_dim"), ({"batch_size": 1.5}, "batch_size"),
                          ({"learning_rate": 0}, "learning_rate"), ({"epochs": True}, "epochs"),
                          ({"seed": None}, "seed")]:
        with pytest.raises(ValueError, match=match):
            TFRSTutorialBaseline(ITEMS, **kwargs)
    with pytest.raises(ValueError, match="before fit"):
        TFRSTutorialBaseline(ITEMS).score(["u0"])
    with pytest.raises(ValueError, match="item_id"):
        TFRSTutorialBaseline(ITEMS).fit(pd.DataFrame({"user_id": ["u0"]}))
    with pytest.raises(ValueError, match="catalogue"):
        TFRSTutorialBaseline(ITEMS).fit(pd.DataFrame({"user_id": ["u0"], "item_id": ["zz"]}))
