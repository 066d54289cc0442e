"""The data a run was trained on, as it was: the tables, the split, the cold items and the item content.

Training derives it from the raw files once (load, hold cold items out, drop
the latest, split, encode content); the run folder keeps it in ``data/``, and
every later command (evaluate, export, rank, add items, report) reads it from
there instead of the raw files. So a run evaluates the same after its raw
data changed or moved, on another machine too, and no later command pays for
parsing and validating the raw files again.

``data/`` holds ``dataset/`` (interactions, items, users: ``RecDataset.save``),
``split/{train,val,test}.parquet``, ``cold_test.parquet`` and
``cold_items.json`` (cold-start runs), ``item_vectors.npz`` (cached content
vectors in item-table order) or ``item_images.parquet`` (encoded image bytes,
for encoders that run inside the tower), and ``meta.json`` (split method,
sizes, a fingerprint of the split).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import pandas as pd

from tfrec.atomic import atomic_directory
from tfrec.data.schema import INTERACTION_COLUMNS, RecDataset, conform
from tfrec.data.splits import Split
from tfrec.errors import RunError

_PARTS = ("train", "val", "test")
_ID_COLUMNS = ["user_id", "item_id", "timestamp"]


@dataclasses.dataclass
class StreamedTraining:
    """The training interactions of a sharded data set: not held but streamed from its shards, and what
    the model needs of them in memory (how often each user and item occurs)."""

    folder: str  # the sharded data set
    fingerprint: str
    shards: list
    user_counts: pd.Series  # user id → training interactions
    item_counts: pd.Series

    @property
    def num_train(self) -> int:
        return int(self.item_counts.sum())

    def save(self, folder: str) -> None:
        with open(os.path.join(folder, "stream.json"), "w") as f:
            json.dump({"folder": self.folder, "fingerprint": self.fingerprint, "shards": list(self.shards)}, f,
                      indent=2)
        for name in ("user", "item"):
            counts = getattr(self, f"{name}_counts")
            pd.DataFrame({"id": counts.index.to_numpy(object), "count": counts.to_numpy(np.int64)}).to_parquet(
                os.path.join(folder, f"train_{name}_counts.parquet"))

    @classmethod
    def load(cls, folder: str) -> "StreamedTraining | None":
        path = os.path.join(folder, "stream.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            meta = json.load(f)
        counts = {}
        for name in ("user", "item"):
            frame = pd.read_parquet(os.path.join(folder, f"train_{name}_counts.parquet"))
            counts[name] = pd.Series(frame["count"].to_numpy(np.int64), index=frame["id"].astype(str).to_numpy(object))
        return cls(meta["folder"], meta["fingerprint"], meta["shards"], counts["user"], counts["item"])


@dataclasses.dataclass
class TrainedData:
    """Tables, split and content of one run.

    Attributes:
      dataset: the data set as loaded (every interaction, the catalogue, the users).
      split: the train / validation / test interactions the model saw and is tested on.
      cold_test, cold_items: interactions and ids of the items held out of training entirely.
      item_vectors: cached content vectors, name → ``[num_items, D]`` in item-table order.
      images: encoded image bytes in item-table order, for encoders run inside the tower.
      stream: for a sharded data set, the streamed training interactions; ``split.train`` then holds only
        the evaluated users' training interactions (what validation and test exclude as seen).
    """

    dataset: RecDataset
    split: Split
    cold_test: pd.DataFrame | None = None
    cold_items: np.ndarray | None = None
    item_vectors: dict | None = None
    images: list | None = None
    stream: StreamedTraining | None = None

    @property
    def item_counts(self) -> pd.Series:
        """Training interactions per item (id → count)."""
        return self.stream.item_counts if self.stream is not None else self.split.train.item_id.value_counts()

    @property
    def user_counts(self) -> pd.Series:
        return self.stream.user_counts if self.stream is not None else self.split.train.user_id.value_counts()

    @property
    def num_train(self) -> int:
        return self.stream.num_train if self.stream is not None else len(self.split.train)

    def fingerprint(self) -> str:
        """A hash of the split's (user, item, time) rows: two runs with the same fingerprint share a split."""
        digest = hashlib.sha256(self.split.method.encode())
        if self.stream is not None:
            digest.update(self.stream.fingerprint.encode())
        for part in _PARTS:
            frame = getattr(self.split, part)[_ID_COLUMNS].astype({"user_id": object, "item_id": object})
            digest.update(part.encode())
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:24]

    def with_items(self, items: pd.DataFrame, vectors: dict | None = None, images: list | None = None
                   ) -> "TrainedData":
        """The same data with ``items`` appended to the catalogue (their vectors or images too)."""
        catalogue = pd.concat([self.dataset.items, items], ignore_index=True)
        dataset = dataclasses.replace(self.dataset, items=catalogue)
        if vectors is not None:
            vectors = {name: np.concatenate([self.item_vectors[name], vectors[name]]) for name in vectors}
        if images is not None:
            images = list(self.images) + list(images)
        return dataclasses.replace(self, dataset=dataset, item_vectors=vectors, images=images)

    def save(self, folder: str) -> None:
        """Writes ``folder`` whole or not at all (an existing one is replaced)."""
        with atomic_directory(folder) as tmp:
            self.dataset.save(os.path.join(tmp, "dataset"))
            os.makedirs(os.path.join(tmp, "split"))
            for part in _PARTS:
                getattr(self.split, part).to_parquet(os.path.join(tmp, "split", f"{part}.parquet"))
            if self.cold_test is not None:
                self.cold_test.to_parquet(os.path.join(tmp, "cold_test.parquet"))
                with open(os.path.join(tmp, "cold_items.json"), "w") as f:
                    json.dump([str(i) for i in self.cold_items], f)
            save_content(tmp, self.dataset.items.item_id, self.item_vectors, self.images)
            if self.stream is not None:
                self.stream.save(tmp)
            with open(os.path.join(tmp, "meta.json"), "w") as f:
                json.dump({"split": self.split.method, "sizes": self.split.sizes(),
                           "items": len(self.dataset.items), "fingerprint": self.fingerprint()}, f, indent=2)

    @classmethod
    def load(cls, folder: str) -> "TrainedData":
        """Reads a folder written by :meth:`save`; a missing or damaged one is a ``RunError``."""
        meta_path = os.path.join(folder, "meta.json")
        if not os.path.exists(meta_path):
            raise RunError(f"{folder} is missing: the run does not hold the data it was trained on "
                           "(it was trained by an older tfrec or not trained); train it again")
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            dataset = RecDataset.load(os.path.join(folder, "dataset"))
            parts = {part: conform(pd.read_parquet(os.path.join(folder, "split", f"{part}.parquet")),
                                   INTERACTION_COLUMNS, f"{part} split") for part in _PARTS}
            split = Split(**parts, method=meta["split"])
            cold_test = cold_items = None
            if os.path.exists(os.path.join(folder, "cold_test.parquet")):
                cold_test = conform(pd.read_parquet(os.path.join(folder, "cold_test.parquet")),
                                    INTERACTION_COLUMNS, "cold test")
                with open(os.path.join(folder, "cold_items.json")) as f:
                    cold_items = np.array(json.load(f), dtype=object)
            item_vectors, images = load_content(folder)
            stream = StreamedTraining.load(folder)
        except (OSError, ValueError, KeyError) as e:
            raise RunError(f"{folder}: the run's stored data cannot be read ({type(e).__name__}: {e}); "
                           "train the run again") from None
        data = cls(dataset, split, cold_test, cold_items, item_vectors, images, stream)
        if data.fingerprint() != meta.get("fingerprint"):
            raise RunError(f"{folder}: the stored split does not match its fingerprint; the run's data was "
                           "changed after training")
        return data


def save_content(folder: str, item_ids, vectors: dict | None, images: list | None) -> None:
    """Writes items' cached vectors (``item_vectors.npz``) or image bytes (``item_images.parquet``)."""
    if vectors is not None:
        np.savez(os.path.join(folder, "item_vectors.npz"), **vectors)
    if images is not None:
        pd.DataFrame({"item_id": np.asarray(item_ids, dtype=object),
                      "image": pd.Series(list(images), dtype=object)}).to_parquet(
            os.path.join(folder, "item_images.parquet"))


def load_content(folder: str) -> tuple[dict | None, list | None]:
    """``(vectors, images)`` written by :func:`save_content` (None for what is not there)."""
    vectors = images = None
    if os.path.exists(os.path.join(folder, "item_vectors.npz")):
        with np.load(os.path.join(folder, "item_vectors.npz")) as stored:
            vectors = {name: stored[name] for name in stored.files}
    if os.path.exists(os.path.join(folder, "item_images.parquet")):
        images = [bytes(b) for b in pd.read_parquet(os.path.join(folder, "item_images.parquet")).image]
    return vectors, images
