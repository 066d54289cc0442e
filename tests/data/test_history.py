import numpy as np
import pandas as pd

from tfrec.data.history import PAD, history_for, latest_items, preceding_items
from tfrec.data.splits import temporal_leave_last_out


def _timeline():
    return pd.DataFrame({
        "user_id": ["a", "a", "a", "a", "b", "b"],
        "item_id": ["x1", "x2", "x3", "x4", "y1", "y2"],
        "timestamp": [1, 2, 3, 4, 1, 2],
        "rating": [1.0] * 6,
    })


def test_preceding_items_are_strictly_earlier_newest_last_and_left_padded():
    out = preceding_items(_timeline(), 2)
    assert out.tolist() == [[PAD, PAD], [PAD, "x1"], ["x1", "x2"], ["x2", "x3"], [PAD, PAD], [PAD, "y1"]]


def test_test_histories_see_train_and_validation_but_never_the_target():
    frame = _timeline().sample(frac=1.0, random_state=1)  # input order must not matter
    split = temporal_leave_last_out(frame)
    context = pd.concat([split.train, split.val])
    test_histories = history_for(split.test, context, 3)
    by_user = dict(zip(split.test.user_id, test_histories.tolist()))
    assert by_user == {"a": ["x1", "x2", "x3"]}  # b has too few interactions to be tested
    val_histories = history_for(split.val, split.train, 3)
    assert val_histories.tolist() == [[PAD, "x1", "x2"]]
    train_histories = history_for(split.train, split.train.iloc[:0], 3)
    for row, history in zip(split.train.itertuples(), train_histories):
        assert row.item_id not in history


def test_latest_items_are_each_users_history_now():
    latest = latest_items(_timeline(), 3)
    assert {u: h.tolist() for u, h in latest.items()} == {"a": ["x2", "x3", "x4"], "b": [PAD, "y1", "y2"]}
    assert latest_items(_timeline(), 1)["a"].tolist() == ["x4"]
    assert isinstance(latest["a"], np.ndarray)
