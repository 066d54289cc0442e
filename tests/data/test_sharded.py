"""Sharded data sets: any source written as TFRecord shards split by time, with memory bounded by a block."""

from __future__ import annotations

import json
import os
import shutil
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import yaml

from tfrec.cli import main
from tfrec.config import DataConfig, SyntheticConfig, TabularConfig, from_dict
from tfrec.data import synthetic
from tfrec.data.shard_writer import TimeHistogram, write_sharded
from tfrec.data.sharded import ShardedDataset, training_data
from tfrec.errors import DataError, RunError

QUIET = dict(log=lambda *_: None)
SMALL = dict(num_users=600, num_items=150, mean_interactions_per_user=10, block_users=128, image_size=8, seed=2)


def _synthetic(tmp_path, **overrides) -> DataConfig:
    return DataConfig(synthetic=SyntheticConfig(**{**SMALL, **overrides}), cache_dir=str(tmp_path / "cache"))


def test_every_interaction_lands_in_the_split_its_time_belongs_to(tmp_path):
    config = _synthetic(tmp_path)
    manifest = write_sharded(config, str(tmp_path / "shards"), val_fraction=0.1, test_fraction=0.2, shard_size=1000,
                             **QUIET)
    memory = synthetic.generate(config.synthetic, str(tmp_path / "memory"))
    data = ShardedDataset.open(str(tmp_path / "shards"))
    parts = {part: data.frame(part) for part in ("train", "val", "test")}
    union = pd.concat(parts.values()).sort_values(["user_id", "timestamp", "item_id"]).reset_index(drop=True)
    expected = memory.interactions.sort_values(["user_id", "timestamp", "item_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(union, expected, check_dtype=False)
    val_start, test_start = manifest["split"]["val_start"], manifest["split"]["test_start"]
    assert parts["train"].timestamp.max() < val_start <= parts["val"].timestamp.min()
    assert parts["val"].timestamp.max() < test_start <= parts["test"].timestamp.min()
    total = len(expected)
    assert manifest["counts"] == {part: len(frame) for part, frame in parts.items()}
    assert 0.19 * total <= manifest["counts"]["test"] <= 0.22 * total  # minute buckets: ties go to the later part
    assert 0.29 * total <= manifest["counts"]["test"] + manifest["counts"]["val"] <= 0.32 * total
    pd.testing.assert_frame_equal(data.users(), memory.users, check_dtype=False)
    items = data.items()
    assert all(os.path.exists(p) for p in items.image_path)
    assert sorted(os.listdir(tmp_path / "shards" / "interactions")) == sorted(
        os.path.basename(p) for part in ("train", "val", "test") for p in manifest["shards"][part])


def test_a_sharded_data_set_holds_its_images_and_survives_its_source_moving(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    dataset = synthetic.generate(synthetic.SyntheticConfig(**SMALL), str(source / "gen"))
    items = dataset.items.copy()
    dataset.interactions.to_csv(source / "events.csv", index=False)
    items.to_csv(source / "items.csv", index=False)
    config = DataConfig(source="tabular", tabular=from_dict(TabularConfig, {
        "interactions": str(source / "events.csv"), "items": str(source / "items.csv"),
        "mapping": {"rating": "rating", "title": "title", "text": "text", "image_path": "image_path",
                    "item_categorical": ["category"]}}))
    write_sharded(config, str(tmp_path / "shards"), **QUIET)
    shutil.rmtree(source)
    data = ShardedDataset.open(str(tmp_path / "shards"))
    paths = data.items().image_path
    assert (paths != "").all() and all(os.path.exists(p) for p in paths)
    assert data.manifest["source"] == "tabular" and data.item_categorical == ("category",)


def _peak_bytes(config: DataConfig, folder: str) -> int:
    tracemalloc.start()
    try:
        write_sharded(config, folder, **QUIET)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_writing_memory_does_not_grow_with_the_interactions(tmp_path):
    small = _peak_bytes(_synthetic(tmp_path, num_users=2_000, block_users=500), str(tmp_path / "a"))
    large = _peak_bytes(_synthetic(tmp_path, num_users=6_000, block_users=500), str(tmp_path / "b"))
    assert large < 1.3 * small


def test_what_cannot_be_written_is_refused_and_leaves_nothing(tmp_path):
    config = _synthetic(tmp_path)
    (tmp_path / "taken").mkdir()
    with pytest.raises(RunError, match="exists; tfrec data shard writes a new folder"):
        write_sharded(config, str(tmp_path / "taken"), **QUIET)
    with pytest.raises(DataError, match="must each be in"):
        write_sharded(config, str(tmp_path / "x"), val_fraction=0.6, test_fraction=0.5, **QUIET)
    events = tmp_path / "events.csv"
    pd.DataFrame({"user_id": ["u1", "u2", "u3"], "item_id": ["a", "b", "c"], "timestamp": [100, 110, 120]}).to_csv(
        events, index=False)
    one_minute = DataConfig(source="tabular", tabular=TabularConfig(interactions=str(events)))
    with pytest.raises(DataError, match="spans too little time"):
        write_sharded(one_minute, str(tmp_path / "y"), **QUIET)
    assert sorted(os.listdir(tmp_path)) == ["events.csv", "taken"]


def test_time_cutoffs_put_the_latest_shares_in_test_and_validation():
    histogram = TimeHistogram()
    times = np.repeat(np.arange(100) * 60 + 5, 10)  # 1,000 interactions over 100 minutes
    histogram.add(times[:400]), histogram.add(times[400:])
    val_start, test_start = histogram.cutoffs(0.2, 0.1)
    assert test_start == 90 * 60 and val_start == 70 * 60
    narrow = TimeHistogram(max_buckets=16)  # widens to 8-minute buckets for a 100-minute span
    narrow.add(times)
    assert narrow.width == 8 * 60 and narrow.total == 1000
    assert narrow.cutoffs(0.2, 0.1)[1] <= 90 * 60


def test_training_data_counts_by_streaming_and_keeps_a_fixed_sample(tmp_path):
    write_sharded(_synthetic(tmp_path), str(tmp_path / "shards"), shard_size=1000, **QUIET)
    data = ShardedDataset.open(str(tmp_path / "shards"))
    first = training_data(data, eval_users=50, seed=3, **QUIET)
    again = training_data(data, eval_users=50, seed=3, **QUIET)
    train = data.frame("train")
    assert first.item_counts.to_dict() == train.item_id.value_counts().to_dict()
    assert first.user_counts.to_dict() == train.user_id.value_counts().to_dict()
    assert first.num_train == len(train)
    sample = set(first.split.val.user_id) | set(first.split.test.user_id)
    assert len(sample) <= 50 and sample == set(again.split.val.user_id) | set(again.split.test.user_id)
    assert set(first.split.train.user_id) <= sample  # the sample's seen items, nothing more
    expected_seen = train[train.user_id.isin(sample)]
    assert len(first.split.train) == len(expected_seen)


def test_train_evaluate_and_export_from_shards(tmp_path, capsys):
    shards = tmp_path / "shards"
    write_sharded(_synthetic(tmp_path), str(shards), shard_size=1500, **QUIET)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "name": "streamed", "data": {"source": "sharded", "path": str(shards), "eval_users": 80,
                                     "vocabulary": {"min_count": 2}},
        "model": {"embedding_dim": 8, "id_embedding_dim": 8, "feature_embedding_dim": 4, "hidden_dims": [8]},
        "train": {"batch_size": 128, "epochs": 2, "histogram_freq": 0}, "export": {"max_k": 20}}))
    run, base = tmp_path / "run", tmp_path / "base"
    assert main(["train", "--config", str(config), "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "streaming" in out and "training shard(s)" in out
    train = ShardedDataset.open(str(shards)).frame("train")
    vocabularies = json.loads((run / "vocabularies.json").read_text())
    counts = train.item_id.value_counts()
    assert set(vocabularies["item_id"]) == set(counts[counts >= 2].index)  # min_count from the streamed counts
    assert main(["evaluate", "--run", str(run)]) == 0
    results = json.loads((run / "evaluation.json").read_text())
    assert results["warm"]["streamed"]["users"] <= 80
    assert main(["export", "--run", str(run), "--base", str(base)]) == 0
    # A user outside the evaluation sample: the export still excludes everything they interacted with.
    import tensorflow as tf

    sample = set(pd.read_parquet(run / "data" / "split" / "test.parquet").user_id)
    everything = pd.concat([ShardedDataset.open(str(shards)).frame(p) for p in ("train", "val", "test")])
    user = next(u for u in everything.user_id.unique() if u not in sample)
    serve = tf.saved_model.load(str(base / "retrieval" / "1")).signatures["serving_default"]
    top = serve(user_id=tf.constant([user]))["item_ids"].numpy()[0, :20].astype(str)
    assert not set(top) & set(everything[everything.user_id == user].item_id)


def test_the_command_line_writes_and_checks_a_sharded_data_set(tmp_path, capsys):
    source = tmp_path / "source.yaml"
    source.write_text(yaml.safe_dump({"data": {"source": "synthetic", "cache_dir": str(tmp_path / "cache"),
                                               "synthetic": SMALL}}))
    assert main(["data", "shard", "--config", str(source), "--out", str(tmp_path / "shards"),
                 "--test-fraction", "0.1"]) == 0
    assert "train on it with data.source: sharded" in capsys.readouterr().out
    sharded = tmp_path / "sharded.yaml"
    sharded.write_text(yaml.safe_dump({"data": {"source": "sharded", "path": str(tmp_path / "shards")}}))
    assert main(["data", "check", "--config", str(sharded)]) == 0
    assert "split by time" in capsys.readouterr().out
    assert main(["data", "shard", "--config", str(source), "--out", str(tmp_path / "shards")]) == 2
    assert "exists; tfrec data shard writes a new folder" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == sorted(["shards", "sharded.yaml", "source.yaml"])
