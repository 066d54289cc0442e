import numpy as np
import pandas as pd
import pytest

from tfrec.data.splits import drop_latest, make_split, random_split, temporal_leave_last_out


def _interactions(rng, users=50, max_per_user=12):
    rows = []
    for u in range(users):
        n = int(rng.integers(1, max_per_user))
        # Repeated timestamps on purpose: ties must still split deterministically.
        times = np.sort(rng.integers(1_000, 1_000 + 3 * n, size=n))
        rows += [(f"u{u}", f"i{rng.integers(100)}", int(t), float(rng.integers(1, 6))) for t in times]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"])
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True)  # input order is not time order


def _keys(frame):
    return set(map(tuple, frame[["user_id", "item_id", "timestamp"]].to_numpy().tolist()))


def test_leave_last_out_holds_out_each_users_latest_interactions():
    frame = _interactions(np.random.default_rng(0))
    split = temporal_leave_last_out(frame)
    assert len(split.train) + len(split.val) + len(split.test) == len(frame)
    counts = frame.user_id.value_counts()
    eligible = set(counts[counts >= 3].index)
    assert set(split.test.user_id) == eligible and split.test.user_id.is_unique
    assert set(split.val.user_id) == eligible and split.val.user_id.is_unique
    latest = frame.groupby("user_id").timestamp.max()
    for row in split.test.itertuples():
        assert row.timestamp == latest[row.user_id]
        user_train = split.train[split.train.user_id == row.user_id]
        user_val = split.val[split.val.user_id == row.user_id]
        assert (user_train.timestamp <= row.timestamp).all()
        assert (user_train.timestamp <= user_val.timestamp.iloc[0]).all()
        assert user_val.timestamp.iloc[0] <= row.timestamp
    # Users with fewer than three interactions keep them all for training.
    short = set(counts[counts < 3].index)
    assert short and short <= set(split.train.user_id)


def test_no_test_interaction_is_in_train():
    frame = _interactions(np.random.default_rng(1))
    frame = frame.drop_duplicates(["user_id", "item_id", "timestamp"])
    split = temporal_leave_last_out(frame)
    assert not _keys(split.test) & _keys(split.train)
    assert not _keys(split.val) & _keys(split.train)


def test_leave_last_out_is_deterministic_under_timestamp_ties():
    frame = pd.DataFrame({"user_id": ["a"] * 4, "item_id": ["x", "y", "z", "w"],
                          "timestamp": [5, 5, 5, 5], "rating": [1.0] * 4})
    first = temporal_leave_last_out(frame)
    again = temporal_leave_last_out(frame.copy())
    assert first.test.item_id.tolist() == again.test.item_id.tolist() == ["w"]
    assert first.val.item_id.tolist() == ["z"]


def test_random_split_is_disjoint_seeded_and_sized():
    frame = _interactions(np.random.default_rng(2), users=80)
    split = random_split(frame, test_fraction=0.2, val_fraction=0.1, seed=7)
    assert len(split.test) == round(0.2 * len(frame)) and len(split.val) == round(0.1 * len(frame))
    assert len(split.train) + len(split.val) + len(split.test) == len(frame)
    assert split.test.equals(random_split(frame, 0.2, 0.1, seed=7).test)
    assert not split.test.equals(random_split(frame, 0.2, 0.1, seed=8).test)


def test_bad_split_arguments_are_rejected():
    frame = _interactions(np.random.default_rng(3))
    with pytest.raises(ValueError, match="test_fraction"):
        random_split(frame, test_fraction=1.5)
    with pytest.raises(ValueError, match="unknown split method 'weekly'"):
        make_split(frame, "weekly")


def test_drop_latest_is_the_data_n_interactions_earlier():
    frame = _interactions(np.random.default_rng(3))
    earlier = drop_latest(frame, 2)
    for user, rows in frame.groupby("user_id"):
        kept = earlier[earlier.user_id == user]
        assert len(kept) == max(len(rows) - 2, 0)
        if len(kept):  # what is left comes no later than what was dropped
            assert kept.timestamp.max() <= rows.timestamp.sort_values().iloc[-2]
    # Splitting the earlier data: its train is the full data's train without each user's latest 2.
    full, part = temporal_leave_last_out(frame), temporal_leave_last_out(earlier)
    eligible = frame.groupby("user_id").size()
    eligible = set(eligible[eligible >= 5].index)  # users split the same way in both
    def of(f):
        return _keys(f[f.user_id.isin(eligible)])
    full_train = full.train[full.train.user_id.isin(eligible)]
    latest_two = full_train.groupby("user_id").tail(2)
    assert of(part.train) == _keys(full_train) - _keys(latest_two)
    assert len(drop_latest(frame, 0)) == len(frame)
    with pytest.raises(ValueError, match=">= 0"):
        drop_latest(frame, -1)
