"""The partitioned index: exact when every partition is probed, close to brute force otherwise."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfrec.config import load_config
from tfrec.errors import ConfigError
from tfrec.export.partitioned_index import PartitionedIndex, assign, kmeans
from tfrec.export.retrieval_export import INFO_ASSET, export_retrieval
from tfrec.training.experiment import Experiment

USERS = ["u1", "u2", "u17", "u42", "u250", "nobody"]


def _clustered(n, d, clusters, rng):
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(0, clusters, n)] + 0.4 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _recall(got, exact):
    return np.mean([len(set(g) & set(e)) / len(e) for g, e in zip(got, exact)])


def test_kmeans_separates_well_apart_clusters():
    rng = np.random.default_rng(1)
    centres = np.eye(4, dtype=np.float32) * 10
    points = np.concatenate([c + 0.1 * rng.normal(size=(50, 4)) for c in centres]).astype(np.float32)
    owner = assign(points, kmeans(points, 4, seed=3))
    # Each true cluster lands in exactly one partition, and the four partitions differ.
    groups = [set(owner[i * 50:(i + 1) * 50]) for i in range(4)]
    assert all(len(g) == 1 for g in groups) and len(set().union(*groups)) == 4


def test_probing_every_partition_is_brute_force_and_fewer_probes_trade_recall():
    rng = np.random.default_rng(0)
    items = _clustered(6000, 16, 40, rng)
    ids = np.array([f"i{i}" for i in range(len(items))])
    queries = _clustered(32, 16, 40, rng)
    exact = ids[np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :50]]
    full = PartitionedIndex(items, ids, partitions=30, nprobe=30, log=lambda *_: None)
    scores, got = full(tf.constant(queries), 50)
    assert _recall(got.numpy().astype(str), exact) == 1.0
    np.testing.assert_allclose(scores.numpy(), -np.sort(-(queries @ items.T), axis=1)[:, :50], rtol=1e-5, atol=1e-6)
    recalls = []
    for nprobe in (1, 4):
        _, got = PartitionedIndex(items, ids, partitions=30, nprobe=nprobe, log=lambda *_: None)(tf.constant(queries), 50)
        recalls.append(_recall(got.numpy().astype(str), exact))
    assert recalls[0] < recalls[1] < 1.0
    int8 = PartitionedIndex(items, ids, partitions=30, nprobe=30, quantize="int8", log=lambda *_: None)
    _, got = int8(tf.constant(queries), 50)
    assert _recall(got.numpy().astype(str), exact) > 0.95
    np.testing.assert_allclose(int8.vectors(tf.constant(ids[:5])).numpy(), items[:5], atol=1.0 / 127)


def test_a_query_probing_fewer_items_than_k_ends_with_empty_ids():
    items = np.eye(8, dtype=np.float32)
    index = PartitionedIndex(items, np.array([f"i{i}" for i in range(8)]), partitions=8, nprobe=1, log=lambda *_: None)
    scores, ids = index(tf.constant(items[:2]), 3)
    assert ids.numpy()[:, 0].astype(str).tolist() == ["i0", "i1"]
    assert ids.numpy()[:, 1:].astype(str).tolist() == [["", ""], ["", ""]]
    assert np.isneginf(scores.numpy()[:, 1:]).all()


def _export_with(trained, base, **export):
    exp, model = trained
    exp = dataclasses.replace(exp, config=dataclasses.replace(
        exp.config, export=dataclasses.replace(exp.config.export, **export)))
    path = export_retrieval(exp, model, str(base), max_k=20, log=lambda *_: None)
    with open(os.path.join(path, INFO_ASSET)) as f:
        return tf.saved_model.load(path).signatures["serving_default"], json.load(f)["index"]


@pytest.fixture(scope="module")
def trained(tiny_run):
    exp = Experiment.from_run(str(tiny_run), log=lambda *_: None)
    return exp, exp.load_model(str(tiny_run))


def test_the_export_with_every_partition_probed_answers_as_brute_force(trained, tmp_path):
    brute, kind = _export_with(trained, tmp_path / "a", index="brute_force")
    assert kind == {"kind": "brute_force"}
    partitioned, kind = _export_with(trained, tmp_path / "b", index="partitioned", partitions=6, nprobe=6)
    assert kind == {"kind": "partitioned", "partitions": 6, "nprobe": 6, "quantize": "none"}
    users = tf.constant(USERS)
    expected, got = brute(user_id=users), partitioned(user_id=users)
    np.testing.assert_allclose(got["scores"].numpy(), expected["scores"].numpy(), rtol=1e-5, atol=1e-5)
    # Ties may swap places; every row holds the same items.
    for row_got, row_expected in zip(got["item_ids"].numpy(), expected["item_ids"].numpy()):
        assert set(row_got) == set(row_expected) and b"" not in set(row_got)


def test_auto_partitions_only_large_catalogues_and_unread_keys_are_refused(tiny_config_path, tmp_path):
    config = load_config(str(tiny_config_path))
    assert config.export.index_for(120) == "brute_force"
    assert config.export.index_for(10_000_000) == "partitioned"
    text = tiny_config_path.read_text().replace("export: {max_k: 20}", "export: {max_k: 20, index: brute_force, nprobe: 4}")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="nprobe"):
        load_config(str(path))


def test_reasons_rescore_from_the_partitioned_index_as_from_brute_force(tiny_sequential_run, tmp_path):
    exp = Experiment.from_run(str(tiny_sequential_run), log=lambda *_: None)
    trained = (exp, exp.load_model(str(tiny_sequential_run)))
    users = tf.constant(["u1", "u2", "u3"])
    brute, _ = _export_with(trained, tmp_path / "a", index="brute_force")
    partitioned, kind = _export_with(trained, tmp_path / "b", index="partitioned", partitions=4, nprobe=4,
                                     quantize="int8")
    assert kind["quantize"] == "int8"
    expected, got = brute(user_id=users), partitioned(user_id=users)
    # int8 vectors move scores by a little; the reasons of the items both recommend agree.
    np.testing.assert_allclose(got["scores"].numpy()[:, :5], expected["scores"].numpy()[:, :5], atol=0.05)
    for row in range(3):
        want = dict(zip(expected["item_ids"].numpy()[row], expected["because"].numpy()[row]))
        have = dict(zip(got["item_ids"].numpy()[row], got["because"].numpy()[row]))
        shared = set(want) & set(have)
        assert len(shared) >= 10 and sum(want[i] == have[i] for i in shared) >= 0.8 * len(shared)
