"""The TFRecord interaction format: encoding, sharded writing and reading back."""

import os

import numpy as np
import pandas as pd
import pytest

import tfrec  # noqa: F401
import tensorflow as tf

from tfrec.data import tfrecord


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": [f"u{i % 17}" for i in range(n)],
            "item_id": [f"item-{rng.integers(1000)}" for _ in range(n)],
            "timestamp": rng.integers(1_500_000_000, 1_700_000_000, size=n),
            "rating": rng.integers(1, 6, size=n).astype(np.float32),
        }
    )


def _reference(user: str, item: str, timestamp: int, rating: float) -> tf.train.Example:
    feature = tf.train.Feature
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "user_id": feature(bytes_list=tf.train.BytesList(value=[user.encode()])),
                "item_id": feature(bytes_list=tf.train.BytesList(value=[item.encode()])),
                "timestamp": feature(int64_list=tf.train.Int64List(value=[timestamp])),
                "rating": feature(float_list=tf.train.FloatList(value=[rating])),
            }
        )
    )


def test_hand_encoding_equals_protobuf_examples():
    users = np.array(["u1", "u" * 300, "ü-ser", "u1", "u2", "u3", "u4"], dtype=object)
    items = np.array(["i1", "i2", "i3", "i" * 5000, "i5", "i6", "i7"], dtype=object)
    timestamps = np.array([0, 127, 128, -1, 2**63 - 1, -(2**63), 1_600_000_000], dtype=np.int64)
    ratings = np.array([1, 2.5, 5, 0.125, -3, 4, 1], dtype=np.float32)
    records = tfrecord.encode_interactions(users, items, timestamps, ratings)
    for record, row in zip(records, zip(users, items, timestamps, ratings)):
        expected = _reference(row[0], row[1], int(row[2]), float(row[3]))
        assert tf.train.Example.FromString(record) == expected
    parsed = tf.io.parse_example(records, tfrecord.interaction_feature_spec())
    np.testing.assert_array_equal(parsed["timestamp"].numpy(), timestamps)
    np.testing.assert_array_equal(parsed["rating"].numpy(), ratings)


def test_write_and_read_frame_round_trip(tmp_path):
    frame = _frame(50)
    paths = tfrecord.write_interactions(frame, str(tmp_path / "shards" / "train"), shard_size=7)
    assert [os.path.basename(p) for p in paths] == [
        f"train-{i:05d}-of-00008.tfrecord" for i in range(8)
    ]
    assert sorted(os.listdir(tmp_path / "shards")) == sorted(os.path.basename(p) for p in paths)
    back = tfrecord.read_interactions_frame(str(tmp_path / "shards" / "train-*"))
    assert list(back.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert back.timestamp.dtype == np.int64 and back.rating.dtype == np.float32
    key = ["user_id", "item_id", "timestamp"]
    pd.testing.assert_frame_equal(
        back.sort_values(key).reset_index(drop=True),
        frame.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


def test_empty_frame_writes_one_empty_shard(tmp_path):
    paths = tfrecord.write_interactions(_frame(0), str(tmp_path / "val"))
    assert [os.path.basename(p) for p in paths] == ["val-00000-of-00001.tfrecord"]
    assert len(tfrecord.read_interactions_frame(paths)) == 0


def test_read_interactions_single_and_batched(tmp_path):
    paths = tfrecord.write_interactions(_frame(30), str(tmp_path / "x"), shard_size=10)
    single = next(iter(tfrecord.read_interactions(paths)))
    assert set(single) == {"user_id", "item_id", "timestamp", "rating"}
    assert single["timestamp"].shape == () and single["user_id"].dtype == tf.string
    batches = list(tfrecord.read_interactions(paths, batch_size=8))
    assert [int(b["rating"].shape[0]) for b in batches] == [8, 8, 8, 6]


def test_failed_stream_leaves_no_shards(tmp_path):
    with pytest.raises(RuntimeError):
        with tfrecord.InteractionShardWriter(str(tmp_path / "train"), shard_size=5) as writer:
            writer.write(_frame(12))
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no interaction shards"):
        tfrecord.read_interactions(str(tmp_path / "nothing-*"))
