"""The feature pipelines: in-memory rows and TFRecord shards join the same features."""

import numpy as np
import pandas as pd

from tfrec.data.pipeline import FeatureJoin, interaction_dataset, item_sampling_probability, shard_dataset
from tfrec.data.schema import RecDataset
from tfrec.data.tfrecord import write_interactions


def _dataset():
    interactions = pd.DataFrame({"user_id": ["a", "a", "b", "c", "c"], "item_id": ["x", "y", "x", "z", "x"],
                                 "timestamp": [1, 2, 3, 4, 5], "rating": [5.0, 3.0, 4.0, 1.0, 2.0]})
    items = pd.DataFrame({"item_id": ["x", "y", "z"], "title": ["X", "Y", "Z"], "text": "", "image_path": "",
                          "genres": ["g1|g2", "g2", ""]})
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "age": [20.0, 30.0, 40.0]})
    return RecDataset("toy", interactions, items, users, item_categorical=("genres",), user_numeric=("age",))


def _rows(ds):
    rows = []
    for batch in ds.as_numpy_iterator():
        for i in range(len(batch["user_id"])):
            rows.append((batch["user_id"][i].decode(), batch["item_id"][i].decode(),
                         batch["item_genres"][i].decode(), float(batch["user_age"][i]),
                         round(float(batch["item_probability"][i]), 6)))
    return sorted(rows)


def test_tfrecord_shards_and_frames_give_the_same_joined_batches(tmp_path):
    dataset = _dataset()
    join = FeatureJoin.build(dataset, dataset.interactions.item_id.value_counts())
    files = write_interactions(dataset.interactions, str(tmp_path / "train"), shard_size=2)
    assert len(files) == 3
    from_frame = _rows(interaction_dataset(dataset.interactions, join, batch_size=2, shuffle_seed=1))
    from_shards = _rows(shard_dataset(files, join, batch_size=2, seed=1, epochs=1))
    assert from_frame == from_shards
    assert ("a", "x", "g1|g2", 20.0, 0.6) in from_frame  # x: 3 of 5 interactions


def test_sampling_probability_counts_training_rows_and_floors_unseen_items():
    train = pd.DataFrame({"item_id": ["x", "x", "y", "x"]})
    np.testing.assert_allclose(item_sampling_probability(train.item_id.value_counts(), np.array(["x", "y", "new"])),
                               [0.75, 0.25, 0.25])
