"""tf.data input pipelines: id pairs in, joined feature dicts out.

Interaction tables (in memory) and TFRecord shards (sharded data sets) both become
batches of ``user_id``/``item_id`` strings, and one ``FeatureJoin`` adds the
user's and the item's features and the item's in-batch sampling probability.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.feature_table import FeatureTable
from tfrec.data.schema import RecDataset
from tfrec.models.retrieval import SAMPLING_PROBABILITY

AUTOTUNE = tf.data.AUTOTUNE


def joined_batches(batches: tf.data.Dataset, join) -> tf.data.Dataset:
    """``join`` mapped over ``batches`` in parallel and prefetched, tf.data's autotuner off.

    On a 2-core machine the autotuner made whole epochs of ``model.fit`` run
    at a floor of about 12.7 ms per step whatever the model (34K instead of
    68-85K examples/s on MovieLens), in some epochs and not others; with it
    off, epochs run at the model's own speed, every time
    (``benchmarks/retrieval_towers.py`` measures training this way).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return batches.map(join, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE).with_options(options)


def item_sampling_probability(item_counts: pd.Series, item_ids: np.ndarray) -> np.ndarray:
    """Share of training interactions per item (``item_counts``: id → count): how often it is an in-batch
    negative. Items without training interactions get the probability of a single interaction, so their
    log-probability stays finite."""
    values = item_counts.reindex(item_ids).fillna(1.0).to_numpy(np.float64)
    return (values / max(int(item_counts.sum()), 1)).astype(np.float32)


@dataclasses.dataclass
class FeatureJoin:
    """Adds user and item features to a batch holding ``user_id`` and ``item_id``."""

    users: FeatureTable
    items: FeatureTable

    @classmethod
    def build(cls, dataset: RecDataset, item_counts: pd.Series, item_vectors: dict | None = None,
              images: list[bytes] | None = None) -> "FeatureJoin":
        """The join for a data set and its training interactions counted per item (id → count).

        Args:
          item_vectors: cached content vectors, name → ``[num_items, D]`` in
            item-table order, returned as ``item_<name>`` features.
          images: encoded image bytes in item-table order; when given, raw
            ``item_text`` and ``item_image`` are returned too (for encoders
            that run inside the tower).
        """
        items = dataset.items.copy()
        items[SAMPLING_PROBABILITY.removeprefix("item_")] = item_sampling_probability(item_counts,
                                                                                     items.item_id.to_numpy())
        string_columns = ["title", *dataset.item_categorical]
        if images is not None:
            items["image"] = pd.Series(images, dtype=object).to_numpy()
            string_columns += ["text", "image"]
        vectors = {name.removeprefix("item_"): v for name, v in (item_vectors or {}).items()}
        return cls(
            users=FeatureTable(dataset.users, "user_id", dataset.user_categorical,
                               dataset.user_numeric, prefix="user_", name="user_features"),
            items=FeatureTable(items, "item_id", string_columns, (SAMPLING_PROBABILITY.removeprefix("item_"),), vectors,
                               prefix="item_", name="item_features"),
        )

    def __call__(self, batch: dict) -> dict:
        out = dict(batch)
        if "user_id" in batch:
            out.update(self.users(batch["user_id"]))
        if "item_id" in batch:
            out.update(self.items(batch["item_id"]))  # includes SAMPLING_PROBABILITY
        return out


def interaction_dataset(
    frame: pd.DataFrame, join: FeatureJoin, batch_size: int, shuffle_seed: int | None = None,
    row_features: dict | None = None,
) -> tf.data.Dataset:
    """Batches of joined features for the ``(user_id, item_id)`` rows of ``frame``.

    With ``shuffle_seed`` the rows are reshuffled every epoch (training);
    without, they keep their order (evaluation). ``row_features`` adds arrays
    aligned with the rows (e.g. each interaction's history).
    """
    ds = tf.data.Dataset.from_tensor_slices(
        {"user_id": frame.user_id.to_numpy(dtype=str).astype(object),
         "item_id": frame.item_id.to_numpy(dtype=str).astype(object),
         **(row_features or {})}
    )
    if shuffle_seed is not None:
        ds = ds.shuffle(len(frame), seed=shuffle_seed, reshuffle_each_iteration=True)
    return joined_batches(ds.batch(batch_size), join)


def shard_dataset(files, join: FeatureJoin, batch_size: int, seed: int = 0, shuffle_buffer: int = 100_000,
                  worker_index: int = 0, num_workers: int = 1, epochs: int | None = None) -> tf.data.Dataset:
    """Joined batches streamed from interaction shards (:mod:`tfrec.data.tfrecord`), shuffled.

    Worker ``worker_index`` of ``num_workers`` reads every ``num_workers``-th
    file only (file-level sharding, tf.data's own auto-sharding off); the
    files are shuffled every pass and interleaved, and records go through a
    ``shuffle_buffer``: nothing holds the whole set. Endless by default (a
    training epoch is then a step count); ``epochs`` bounds the passes.
    """
    from tfrec.data.tfrecord import interaction_feature_spec

    files = [str(f) for f in files]
    names = tf.data.Dataset.from_tensor_slices(files)
    if num_workers > 1:
        names = names.shard(num_workers, worker_index)
    names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat(epochs)
    records = names.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                               num_parallel_calls=min(len(files), 8), deterministic=True)
    spec = {name: feature for name, feature in interaction_feature_spec().items() if name.endswith("_id")}
    batches = (records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
               .batch(batch_size)
               .map(lambda serialized: tf.io.parse_example(serialized, spec)))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return joined_batches(batches.with_options(options), join)


def id_dataset(ids, key: str, join: FeatureJoin, batch_size: int) -> tf.data.Dataset:
    """Joined features of a list of user (``key="user_id"``) or item ids, in order."""
    ds = tf.data.Dataset.from_tensor_slices({key: np.asarray(ids, dtype=str).astype(object)})
    return joined_batches(ds.batch(batch_size), join)
