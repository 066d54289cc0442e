"""``tfrec data shard``: any source written as a sharded data set (:mod:`tfrec.data.sharded`), split by time.

Two passes with memory bounded by one block of interactions (the built-in
synthetic source is generated a block of users at a time; MovieLens and the
user's files are loaded first, then written in blocks):

1. every interaction goes into hidden temporary shards while a histogram of
   their times (minute buckets) is counted;
2. the global cutoffs are read off the histogram (the latest ``test_fraction``
   of interactions is test, the ``val_fraction`` before it validation; ties at
   a cutoff's minute go to the later split), and the records are routed, as
   they are, into the train, validation and test shards.

The folder appears whole or not at all, and an existing folder is never
written over.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Iterator

import numpy as np
import pandas as pd

from tfrec.atomic import atomic_directory
from tfrec.config.data import DataConfig
from tfrec.data.sharded import FORMAT, MANIFEST, PARTS, shard_fingerprint
from tfrec.errors import DataError, RunError

_MINUTE = 60
_BLOCK_ROWS = 500_000


def write_sharded(config: DataConfig, out: str, val_fraction: float = 0.05, test_fraction: float = 0.05,
                  shard_size: int = 1_000_000, log=print) -> dict:
    """Writes the data of ``config`` into the new folder ``out``; returns its manifest."""
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(f"--val-fraction {val_fraction} and --test-fraction {test_fraction} must each be in (0, 1) "
                        "and leave training interactions (their sum < 1)")
    if config.sharded:
        raise DataError("the config's data is already a sharded data set")
    out = os.path.abspath(out)
    if os.path.lexists(out):
        raise RunError(f"{out} exists; tfrec data shard writes a new folder and never over another")
    with atomic_directory(out, if_exists="error") as tmp:
        source = _Source.of(config, tmp)
        hidden = os.path.join(tmp, "interactions", ".all")
        histogram = TimeHistogram()
        with _writer(hidden, shard_size) as everything:
            for block in source.blocks():
                everything.write(block)
                histogram.add(block.timestamp.to_numpy())
            everything_shards = everything.close()
        total = histogram.total
        val_start, test_start = histogram.cutoffs(val_fraction, test_fraction)
        log(f"{total:,} interactions; validation from {val_start}, test from {test_start} (Unix seconds)")
        counts, shards = _route(everything_shards, os.path.join(tmp, "interactions"), val_start, test_start,
                                shard_size)
        for shard in everything_shards:
            os.remove(shard)
        if not counts["val"] or not counts["test"] or not counts["train"]:
            raise DataError(f"the time split left {counts} interactions: the data spans too little time "
                            f"(all {total:,} interactions within {histogram.span_seconds // 60 + 1} minute(s))")
        source.items.to_parquet(os.path.join(tmp, "items.parquet"))  # image paths relative to the folder
        relative = {part: [os.path.relpath(p, tmp) for p in shards[part]] for part in PARTS}
        manifest = {
            "format": FORMAT, "name": source.name, "source": config.source,
            "split": {"method": "time", "val_start": int(val_start), "test_start": int(test_start),
                      "val_fraction": val_fraction, "test_fraction": test_fraction},
            "counts": {part: int(n) for part, n in counts.items()}, "num_interactions": int(total), "num_items": len(source.items), "num_users": source.num_users,
            "shards": relative, "item_categorical": list(source.item_categorical),
            "user_categorical": list(source.user_categorical), "user_numeric": list(source.user_numeric),
            "fingerprint": shard_fingerprint(tmp, relative),
        }
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
    return manifest


class TimeHistogram:
    """Interactions counted per minute, in memory bounded by the time span (never by their number): at
    most ``max_buckets`` buckets, which widen by doubling when a long span would need more."""

    def __init__(self, width: int = _MINUTE, max_buckets: int = 1 << 21):
        self.width, self.max_buckets = width, max_buckets
        self.first = 0  # the first bucket's index (times // width)
        self.counts = np.zeros(0, np.int64)

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    @property
    def span_seconds(self) -> int:
        filled = np.flatnonzero(self.counts)
        return int((filled[-1] - filled[0]) * self.width) if len(filled) else 0

    def add(self, times: np.ndarray) -> None:
        if not len(times):
            return
        low, high = int(times.min()) // self.width, int(times.max()) // self.width
        if not len(self.counts):
            self.first, self.counts = low, np.zeros(high - low + 1, np.int64)
        elif low < self.first or high >= self.first + len(self.counts):
            start, stop = min(low, self.first), max(high, self.first + len(self.counts) - 1)
            grown = np.zeros(stop - start + 1, np.int64)
            grown[self.first - start:self.first - start + len(self.counts)] = self.counts
            self.first, self.counts = start, grown
        while len(self.counts) > self.max_buckets:
            self._widen()
        buckets = np.asarray(times, np.int64) // self.width - self.first
        self.counts += np.bincount(buckets, minlength=len(self.counts))

    def _widen(self) -> None:
        counts = self.counts if self.first % 2 == 0 else np.concatenate([[0], self.counts])
        if len(counts) % 2:
            counts = np.concatenate([counts, [0]])
        self.first = (self.first - (self.first % 2)) // 2
        self.counts, self.width = counts.reshape(-1, 2).sum(axis=1), self.width * 2

    def cutoffs(self, val_fraction: float, test_fraction: float) -> tuple[int, int]:
        """``(val_start, test_start)`` in Unix seconds: the latest ``test_fraction`` of interactions (and
        ``val_fraction`` before them) start there; the bucket a cutoff falls in goes to the later part."""
        from_end = np.cumsum(self.counts[::-1])[::-1]  # interactions in or after each bucket
        total = self.total

        def start(share: float) -> int:
            at_least = np.flatnonzero(from_end >= round(share * total, 6))  # 0.1 + 0.2 is not 0.3 in floats
            bucket = at_least[-1] if len(at_least) else 0
            return int(self.first + bucket) * self.width

        return start(val_fraction + test_fraction), start(test_fraction)


def _route(shards: list[str], folder: str, val_start: int, test_start: int, shard_size: int):
    """Copies each record of ``shards`` into the split its time belongs to; ``(counts, shard paths)``."""
    import tensorflow as tf

    writers = {part: _writer(os.path.join(folder, part), shard_size) for part in PARTS}
    spec = {"timestamp": tf.io.FixedLenFeature([], tf.int64)}
    try:
        records = tf.data.TFRecordDataset(shards).batch(65_536)
        for batch in records.as_numpy_iterator():
            times = tf.io.parse_example(batch, spec)["timestamp"].numpy()
            part = np.where(times >= test_start, 2, np.where(times >= val_start, 1, 0))
            for index, name in enumerate(PARTS):
                writers[name].write_records(batch[part == index].tolist())
        paths = {name: writer.close() for name, writer in writers.items()}
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    return {name: writer.count for name, writer in writers.items()}, paths


def _writer(prefix: str, shard_size: int):
    from tfrec.data.tfrecord import InteractionShardWriter

    return InteractionShardWriter(prefix, shard_size)


class _Source:
    """What is written: the catalogue, the users (streamed to ``users.parquet``) and blocks of interactions."""

    def __init__(self, name, items, blocks, item_categorical=(), user_categorical=(), user_numeric=()):
        self.name, self.items, self._blocks = name, items, blocks
        self.item_categorical, self.user_categorical, self.user_numeric = \
            item_categorical, user_categorical, user_numeric
        self.num_users = 0

    def blocks(self) -> Iterator[pd.DataFrame]:
        yield from self._blocks(self)

    @classmethod
    def of(cls, config: DataConfig, folder: str) -> "_Source":
        if config.source == "synthetic":
            return cls._synthetic(config, folder)
        from tfrec.data.sources import load_dataset

        dataset, _ = load_dataset(config)
        items = dataset.items.copy()
        items["image_path"] = _copy_images(items, os.path.join(folder, "images"))

        def blocks(source):
            _users_file(folder, [dataset.users])
            source.num_users = len(dataset.users)
            frame = dataset.interactions
            for start in range(0, len(frame), _BLOCK_ROWS):
                yield frame.iloc[start:start + _BLOCK_ROWS]

        return cls(dataset.name, items, blocks, dataset.item_categorical, dataset.user_categorical,
                   dataset.user_numeric)

    @classmethod
    def _synthetic(cls, config: DataConfig, folder: str) -> "_Source":
        from tfrec.data import synthetic

        world = synthetic.build_world(config.synthetic, os.path.join(folder, "images"))

        def blocks(source):
            writer = None
            try:
                for users, interactions in synthetic.user_blocks(config.synthetic, world):
                    writer = _append_users(folder, users, writer)
                    source.num_users += len(users)
                    yield interactions
            finally:
                if writer is not None:
                    writer.close()

        items = world.items.copy()
        return cls(synthetic.NAME, items, blocks, synthetic.ITEM_CATEGORICAL, synthetic.USER_CATEGORICAL,
                   synthetic.USER_NUMERIC)


def _copy_images(items: pd.DataFrame, folder: str) -> list[str]:
    """Copies each item's image into ``folder`` (so the data set holds them); their paths relative to the
    folder holding ``folder``."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for row, path in enumerate(items.image_path):
        if not path:
            paths.append("")
            continue
        name = f"{row}{os.path.splitext(path)[1]}"
        shutil.copyfile(path, os.path.join(folder, name))
        paths.append(os.path.join(os.path.basename(folder), name))
    return paths


def _users_file(folder: str, frames) -> None:
    pd.concat(frames, ignore_index=True).to_parquet(os.path.join(folder, "users.parquet"))


def _append_users(folder: str, users: pd.DataFrame, writer):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(users, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(os.path.join(folder, "users.parquet"), table.schema)
    writer.write_table(table)
    return writer
