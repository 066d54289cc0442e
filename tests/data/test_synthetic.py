"""The synthetic data set: determinism, schema, signal in content, streaming."""

import collections
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import tfrec  # noqa: F401

from tfrec.data import synthetic
from tfrec.data.schema import RecDataset

SMALL = synthetic.SyntheticConfig(num_users=800, num_items=400, mean_interactions_per_user=25)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> RecDataset:
    return synthetic.generate(SMALL, str(tmp_path_factory.mktemp("small")))


def _nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """Fits class centroids on even rows and scores odd rows."""
    train, test = np.arange(0, len(labels), 2), np.arange(1, len(labels), 2)
    classes = np.unique(labels)
    centroids = np.stack([features[train][labels[train] == c].mean(axis=0) for c in classes])
    distance = ((features[test][:, None, :] - centroids[None]) ** 2).sum(axis=2)
    return float((classes[distance.argmin(axis=1)] == labels[test]).mean())


def test_same_seed_same_tables_and_image_bytes(tmp_path, small):
    again = synthetic.generate(SMALL, str(tmp_path / "again"))
    for name in ("interactions", "users"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))
    columns = [c for c in small.items.columns if c != "image_path"]
    pd.testing.assert_frame_equal(small.items[columns], again.items[columns])
    for a, b in zip(small.items.image_path[:50], again.items.image_path[:50]):
        assert a != b and open(a, "rb").read() == open(b, "rb").read()


def test_other_seed_differs(tmp_path, small):
    other = synthetic.generate(
        synthetic.SyntheticConfig(**{**SMALL.__dict__, "seed": 1}), str(tmp_path / "other")
    )
    assert not small.interactions.equals(other.interactions)
    assert list(small.items.text[:5]) != list(other.items.text[:5])


def test_schema_and_shapes(small):
    assert small.name == "synthetic"
    assert small.item_categorical == ("category", "price_band")
    assert small.user_categorical == ("region",) and small.user_numeric == ("age",)
    assert len(small.items) == SMALL.num_items and len(small.users) == SMALL.num_users
    assert small.items.item_id.iloc[0] == "i1" and small.users.user_id.iloc[0] == "u1"
    assert small.interactions.rating.dtype == np.float32
    assert set(small.interactions.rating.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    per_user = small.interactions.groupby("user_id").size()
    assert per_user.min() >= SMALL.min_interactions
    assert abs(per_user.mean() - SMALL.mean_interactions_per_user) < 5
    assert not small.interactions.duplicated(["user_id", "item_id"]).any()
    path = small.items.image_path.iloc[0]
    assert os.path.isabs(path) and path.endswith("images/i1.png")
    image = np.asarray(Image.open(path))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    titles = small.items.title.str.split()
    assert titles.map(len).between(3, 5).all() and small.items.title.is_unique
    words = small.items.text.str.split().map(len)
    assert words.between(15, 40).all()


def test_users_prefer_their_dominant_category(small):
    frame = small.interactions.merge(small.items[["item_id", "category"]], on="item_id")

    def top_share(f):
        return f.groupby("user_id").category.agg(lambda s: s.value_counts().iloc[0] / len(s)).mean()

    shuffled = frame.assign(category=np.random.default_rng(0).permutation(frame.category.to_numpy()))
    assert top_share(frame) > top_share(shuffled) + 0.2


def test_text_predicts_category(small):
    vocabulary = sorted({w for text in small.items.text for w in text.split()})
    index = {w: i for i, w in enumerate(vocabulary)}
    counts = np.zeros((len(small.items), len(vocabulary)))
    for row, text in enumerate(small.items.text):
        for word in text.split():
            counts[row, index[word]] += 1
    counts /= counts.sum(axis=1, keepdims=True)
    accuracy = _nearest_centroid_accuracy(counts, small.items.category.to_numpy())
    assert accuracy > 0.6  # chance is 1/8; 15% of categories are noise


def test_mean_image_colour_predicts_category(small):
    colours = np.stack(
        [np.asarray(Image.open(p), dtype=float).reshape(-1, 3).mean(axis=0) for p in small.items.image_path]
    )
    accuracy = _nearest_centroid_accuracy(colours, small.items.category.to_numpy())
    assert accuracy > 0.4  # chance is 1/8


def test_popularity_is_skewed(small):
    counts = small.interactions.item_id.value_counts()
    top = counts.iloc[: len(small.items) // 10].sum() / counts.sum()
    assert top > 0.3


def test_timestamps_increase_per_user_inside_window(small):
    frame = small.interactions
    same_user = frame.user_id.to_numpy()[1:] == frame.user_id.to_numpy()[:-1]
    assert (np.diff(frame.timestamp.to_numpy())[same_user] > 0).all()
    assert frame.timestamp.min() >= SMALL.start_time
    assert frame.timestamp.max() < SMALL.start_time + SMALL.time_window_days * 86_400


def test_recent_history_predicts_next_better_than_early_history(small):
    frame = small.interactions.merge(small.items[["item_id", "category"]], on="item_id", sort=False)
    hits = collections.Counter()
    for _, group in frame.groupby("user_id", sort=False):
        cats = group.category.to_numpy()
        if len(cats) < 20:
            continue
        target = cats[-1]
        hits["recent"] += (cats[-11:-1] == target).mean()
        hits["early"] += (cats[:10] == target).mean()
    assert hits["recent"] > 1.2 * hits["early"]


def test_large_catalogue_sampler_keeps_signal(tmp_path):
    config = synthetic.SyntheticConfig(
        num_users=300, num_items=600, exact_items_limit=100, image_size=8
    )
    data = synthetic.generate(config, str(tmp_path))
    assert not data.interactions.duplicated(["user_id", "item_id"]).any()
    assert data.interactions.groupby("user_id").size().min() >= config.min_interactions
    frame = data.interactions.merge(data.items[["item_id", "category"]], on="item_id")
    share = frame.groupby("user_id").category.agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert share.mean() > 0.4


def test_load_or_generate_caches_by_config(tmp_path, monkeypatch):
    config = synthetic.SyntheticConfig(num_users=50, num_items=40, mean_interactions_per_user=8)
    first = synthetic.load_or_generate(config, str(tmp_path))
    assert os.path.exists(first.items.image_path.iloc[0])

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a cached data set")

    monkeypatch.setattr(synthetic, "_build_world", fail)
    cached = synthetic.load_or_generate(config, str(tmp_path))
    pd.testing.assert_frame_equal(first.interactions, cached.interactions)
    assert first.items.image_path.tolist() == cached.items.image_path.tolist()
    with pytest.raises(AssertionError, match="regenerated"):
        synthetic.load_or_generate(
            synthetic.SyntheticConfig(**{**config.__dict__, "seed": 3}), str(tmp_path)
        )
    assert len([n for n in os.listdir(tmp_path) if not n.startswith(".")]) == 1
