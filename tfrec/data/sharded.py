"""A sharded data set: interactions larger than memory, in TFRecord shards already split by time.

Written by ``tfrec data shard`` (:mod:`tfrec.data.shard_writer`) from any source,
read by ``data.source: sharded`` with ``data.path: FOLDER``::

    FOLDER/manifest.json        format, name, time cutoffs, counts and shards per split, categorical columns,
                                a fingerprint of every shard
    FOLDER/items.parquet        the catalogue (the item schema of tfrec.data.schema)
    FOLDER/users.parquet        the users (the user schema)
    FOLDER/images/              item images, when the source has them (image_path relative to FOLDER)
    FOLDER/interactions/{train,val,test}-NNNNN-of-NNNNN.tfrecord

The split is global by time: every interaction at or after ``test_start`` is
test, at or after ``val_start`` validation, the rest training; leave-last-out
per user needs each user's whole timeline in memory, which this format is for
avoiding. Nothing here loads the interactions whole: they stream
(:meth:`ShardedDataset.batches`).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os

import numpy as np
import pandas as pd

from tfrec.data.schema import ITEM_BASE_COLUMNS, USER_BASE_COLUMNS, conform
from tfrec.errors import DataError, MissingFileError

FORMAT = "tfrec-sharded/1"
MANIFEST = "manifest.json"
PARTS = ("train", "val", "test")


@dataclasses.dataclass
class ShardedDataset:
    """An opened sharded data set (its manifest read and its files checked)."""

    folder: str
    manifest: dict

    @classmethod
    def open(cls, folder: str) -> "ShardedDataset":
        folder = os.path.abspath(folder)
        path = os.path.join(folder, MANIFEST)
        if not os.path.exists(path):
            raise MissingFileError(f"{folder} is not a sharded data set: {MANIFEST} is missing "
                                   "(write one with tfrec data shard)")
        try:
            with open(path) as f:
                manifest = json.load(f)
        except (OSError, ValueError) as e:
            raise DataError(f"{path} cannot be read: {e}") from None
        if manifest.get("format") != FORMAT:
            raise DataError(f"{path}: format {manifest.get('format')!r} is not {FORMAT!r}")
        data = cls(folder, manifest)
        for part in PARTS:
            for shard in data.shards(part):
                if not os.path.exists(shard):
                    raise MissingFileError(f"{shard} is missing from the sharded data set {folder}")
        return data

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def item_categorical(self) -> tuple:
        return tuple(self.manifest["item_categorical"])

    @property
    def user_categorical(self) -> tuple:
        return tuple(self.manifest["user_categorical"])

    @property
    def user_numeric(self) -> tuple:
        return tuple(self.manifest["user_numeric"])

    def count(self, part: str) -> int:
        return int(self.manifest["counts"][part])

    def shards(self, part: str) -> list[str]:
        return [os.path.join(self.folder, p) for p in self.manifest["shards"][part]]

    def items(self) -> pd.DataFrame:
        """The catalogue, image paths made absolute."""
        frame = pd.read_parquet(os.path.join(self.folder, "items.parquet"))
        columns = {**ITEM_BASE_COLUMNS, **{c: "str" for c in self.item_categorical}}
        frame = conform(frame, columns, "items")
        frame["image_path"] = [os.path.join(self.folder, p) if p and not os.path.isabs(p) else p
                               for p in frame.image_path]
        return frame

    def users(self) -> pd.DataFrame:
        columns = {**USER_BASE_COLUMNS, **{c: "str" for c in self.user_categorical},
                   **{c: "float32" for c in self.user_numeric}}
        return conform(pd.read_parquet(os.path.join(self.folder, "users.parquet")), columns, "users")

    def batches(self, part: str, batch_size: int = 65_536):
        """``{user_id, item_id: object arrays of str, timestamp, rating}`` batches of a split, in shard order."""
        from tfrec.data.tfrecord import read_interactions

        for batch in read_interactions(self.shards(part), batch_size=batch_size).as_numpy_iterator():
            yield {"user_id": _decoded(batch["user_id"]), "item_id": _decoded(batch["item_id"]),
                   "timestamp": batch["timestamp"].astype(np.int64), "rating": batch["rating"].astype(np.float32)}

    def frame(self, part: str, users=None) -> pd.DataFrame:
        """The interactions of a split (of ``users`` only, when given) as a frame: for the small parts."""
        keep = None if users is None else set(users)
        pieces = []
        for batch in self.batches(part):
            frame = pd.DataFrame(batch)
            if keep is not None:
                frame = frame[frame.user_id.isin(keep)]
            pieces.append(frame)
        if not pieces:
            return pd.DataFrame({"user_id": pd.Series([], dtype=object), "item_id": pd.Series([], dtype=object),
                                 "timestamp": pd.Series([], dtype=np.int64), "rating": pd.Series([], dtype=np.float32)})
        return pd.concat(pieces, ignore_index=True)


DEFAULT_EVAL_USERS = 10_000


def training_data(dataset: ShardedDataset, eval_users: int, seed: int, log=print):
    """The ``TrainedData`` of a sharded data set: what training streams, and a sample to evaluate on.

    One pass over the training shards counts each user's and item's
    interactions (for the vocabularies and the sampling probabilities); the
    validation and test parts are read, and ``eval_users`` of their users
    (the same seeded sample for both, 10,000 when 0) are kept with their
    training interactions (a second pass), which validation and test exclude as seen.
    """
    from tfrec.data.schema import RecDataset
    from tfrec.data.splits import Split
    from tfrec.data.trained_data import StreamedTraining, TrainedData

    user_counts, item_counts = collections.Counter(), collections.Counter()
    for batch in dataset.batches("train"):
        user_counts.update(pd.Series(batch["user_id"]).value_counts().to_dict())
        item_counts.update(pd.Series(batch["item_id"]).value_counts().to_dict())
    val, test = dataset.frame("val"), dataset.frame("test")
    candidates = np.sort(pd.unique(np.concatenate([val.user_id.to_numpy(object), test.user_id.to_numpy(object)])))
    size = eval_users or DEFAULT_EVAL_USERS
    sample = candidates if len(candidates) <= size else np.sort(
        np.random.default_rng(seed).choice(candidates, size=size, replace=False))
    log(f"{dataset.name}: {dataset.count('train'):,} training interactions streamed from "
        f"{len(dataset.shards('train'))} shard(s); validation and test rank the catalogue for "
        f"{len(sample):,} of their {len(candidates):,} users")
    seen = dataset.frame("train", users=sample)
    keep = set(sample)
    split = Split(train=seen, val=val[val.user_id.isin(keep)].reset_index(drop=True),
                  test=test[test.user_id.isin(keep)].reset_index(drop=True), method="time")
    tables = RecDataset(name=dataset.name, interactions=pd.concat([split.train, split.val, split.test],
                                                                  ignore_index=True),
                        items=dataset.items(), users=dataset.users(), item_categorical=dataset.item_categorical,
                        user_categorical=dataset.user_categorical, user_numeric=dataset.user_numeric)
    stream = StreamedTraining(dataset.folder, dataset.fingerprint, dataset.shards("train"),
                              _series(user_counts), _series(item_counts))
    return TrainedData(tables, split, stream=stream)


def _series(counts: collections.Counter) -> pd.Series:
    return pd.Series(list(counts.values()), index=pd.Index(list(counts.keys()), dtype=object), dtype=np.int64)


def shard_fingerprint(folder: str, shards: dict) -> str:
    """A hash of every shard's name and size: a sharded data set that changed gets another one."""
    digest = hashlib.sha256()
    for part in PARTS:
        for shard in shards[part]:
            digest.update(f"{part}/{shard}/{os.path.getsize(os.path.join(folder, shard))}\n".encode())
    return digest.hexdigest()[:24]


def _decoded(values: np.ndarray) -> np.ndarray:
    return np.array([v.decode("utf-8") for v in values], dtype=object)
