"""The TFRecord interaction format: one ``tf.train.Example`` per interaction.

Each record holds ``user_id`` (bytes), ``item_id`` (bytes), ``timestamp``
(int64, Unix seconds) and ``rating`` (float). Interaction sets too large for a
pandas frame (tens of millions of rows) live as shards in this format, named
``<prefix>-00000-of-00003.tfrecord``, and stream into training through
:func:`read_interactions`.

Records are encoded by hand (the ``Example`` wire format is four fixed map
entries), which is several times faster than building protobuf messages in
Python and yields bytes that ``tf.io.parse_example`` reads like any other
``Example``. A shard only appears under its final name once it is complete.
"""

from __future__ import annotations

import os
import struct
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow is imported)
import tensorflow as tf

from tfrec.errors import MissingFileError

SHARD_SUFFIX = ".tfrecord"
_PARSE_BATCH = 4096


def interaction_feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    """The parsing spec of an interaction record, for ``tf.io.parse_example``."""
    return {
        "user_id": tf.io.FixedLenFeature([], tf.string),
        "item_id": tf.io.FixedLenFeature([], tf.string),
        "timestamp": tf.io.FixedLenFeature([], tf.int64),
        "rating": tf.io.FixedLenFeature([], tf.float32),
    }


# --- encoding ---------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values are sent as 10-byte two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(payload)) + payload


def _map_entry(key: str, feature: bytes) -> bytes:
    """One ``Features.feature`` map entry: key (field 1) and Feature (field 2)."""
    return _delimited(0x0A, _delimited(0x0A, key.encode()) + _delimited(0x12, feature))


def _bytes_entry(key: str, value: bytes) -> bytes:
    return _map_entry(key, _delimited(0x0A, _delimited(0x0A, value)))  # Feature.bytes_list


def _float_entry(key: str, value: float) -> bytes:
    return _map_entry(key, _delimited(0x12, b"\x0a\x04" + struct.pack("<f", value)))


def _int64_entry(key: str, value: int) -> bytes:
    return _map_entry(key, _delimited(0x1A, _delimited(0x0A, _varint(int(value)))))


# The timestamp entry differs between records only in its varint, so its
# framing is precomputed for each varint length (1 to 10 bytes).
_TIMESTAMP_PREFIX = [b""] + [
    _int64_entry("timestamp", 1 << (7 * (n - 1)))[:-n] for n in range(1, 11)
]
_ENCODE_CHUNK = 65_536  # rows assembled at once; bounds the byte-index arrays


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Varint bytes of int64 values as a (rows, 10) array plus each row's length."""
    unsigned = values.astype(np.int64).view(np.uint64)
    shifts = np.arange(10, dtype=np.uint64) * np.uint64(7)
    groups = ((unsigned[:, None] >> shifts) & np.uint64(0x7F)).astype(np.uint8)
    lengths = 1 + (unsigned[:, None] >= (np.uint64(1) << shifts[1:])).sum(axis=1)
    more = np.arange(10)[None, :] < (lengths[:, None] - 1)
    return groups | (more.astype(np.uint8) << 7), lengths


def encode_interactions(
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    timestamps: np.ndarray,
    ratings: np.ndarray,
) -> list[bytes]:
    """Serialized ``tf.train.Example`` records, one per interaction.

    Each record is the concatenation of six pieces: the Example header, the
    user, item, timestamp-framing, timestamp-varint and rating entries. Every
    piece but the varint repeats across rows, so the distinct pieces are
    encoded once and records are assembled with numpy gathers; per row only a
    slice of the result remains in Python.
    """
    timestamps = np.asarray(timestamps, dtype=np.int64)
    ratings = np.asarray(ratings, dtype=np.float32)
    records: list[bytes] = []
    for start in range(0, len(timestamps), _ENCODE_CHUNK):
        stop = start + _ENCODE_CHUNK
        records.extend(
            _encode_chunk(user_ids[start:stop], item_ids[start:stop], timestamps[start:stop], ratings[start:stop])
        )
    return records


def _encode_chunk(user_ids, item_ids, timestamps, ratings) -> list[bytes]:
    n = len(timestamps)
    if n == 0:
        return []
    user_codes, user_values = pd.factorize(pd.Series(user_ids, dtype=object))
    item_codes, item_values = pd.factorize(pd.Series(item_ids, dtype=object))
    rating_codes, rating_values = pd.factorize(ratings)
    varint_bytes, varint_lengths = _varints(timestamps)
    body_pieces = (
        [_bytes_entry("user_id", str(u).encode()) for u in user_values],
        [_bytes_entry("item_id", str(i).encode()) for i in item_values],
        _TIMESTAMP_PREFIX,
        [_float_entry("rating", float(r)) for r in rating_values],
    )
    body_codes = (user_codes, item_codes, varint_lengths, rating_codes)
    piece_lengths = [np.array([len(p) for p in pieces]) for pieces in body_pieces]
    features_length = varint_lengths.copy()
    for codes, lengths in zip(body_codes, piece_lengths):
        features_length += lengths[codes]
    header_codes, header_values = pd.factorize(features_length)
    headers = [b"\x0a" + _varint(int(v)) for v in header_values]

    # One pool of bytes holding every distinct piece, then the row varints.
    groups = [headers, *body_pieces]
    codes = [header_codes, *body_codes]
    pool = b"".join(b"".join(g) for g in groups)
    starts, lengths, base = [], [], 0
    for group, code in zip(groups, codes):
        sizes = np.array([len(p) for p in group], dtype=np.int64)
        offsets = base + np.concatenate([[0], np.cumsum(sizes)[:-1]])
        starts.append(offsets[code])
        lengths.append(sizes[code])
        base += int(sizes.sum())
    starts.insert(4, base + 10 * np.arange(n))  # the varint follows its framing
    lengths.insert(4, varint_lengths)
    pool = np.concatenate([np.frombuffer(pool, np.uint8), varint_bytes.ravel()])
    starts = np.stack(starts, axis=1).ravel()
    lengths = np.stack(lengths, axis=1).ravel()
    out_starts = np.cumsum(lengths) - lengths
    index = np.repeat(starts - out_starts, lengths) + np.arange(int(lengths.sum()))
    buffer = pool[index].tobytes()
    ends = np.cumsum(lengths.reshape(n, 6).sum(axis=1)).tolist()
    return [buffer[a:b] for a, b in zip([0] + ends[:-1], ends)]


# --- writing ----------------------------------------------------------------


def shard_name(path_prefix: str, index: int, count: int) -> str:
    """``<prefix>-00002-of-00010.tfrecord``."""
    return f"{path_prefix}-{index:05d}-of-{count:05d}{SHARD_SUFFIX}"


class InteractionShardWriter:
    """Streams interaction frames into shards of at most ``shard_size`` records.

    The total shard count is only known at the end, so each shard is written
    under a hidden temporary name and every shard is renamed to its final
    ``-of-NNNNN`` name by :meth:`close`; readers never see a partial shard.
    """

    def __init__(self, path_prefix: str, shard_size: int = 1_000_000):
        if shard_size < 1:
            raise ValueError(f"shard_size must be positive, got {shard_size}")
        self.path_prefix = os.path.abspath(path_prefix)
        self.shard_size = shard_size
        self.count = 0
        self._temp_paths: list[str] = []
        self._writer = None
        self._in_shard = 0
        os.makedirs(os.path.dirname(self.path_prefix), exist_ok=True)

    def _open_shard(self) -> None:
        folder, base = os.path.split(self.path_prefix)
        path = os.path.join(folder, f".{base}-{len(self._temp_paths):05d}.tmp")
        self._temp_paths.append(path)
        self._writer = tf.io.TFRecordWriter(path)
        self._in_shard = 0

    def write_records(self, records: Iterable[bytes]) -> None:
        """Appends already serialized records."""
        for record in records:
            if self._writer is None or self._in_shard >= self.shard_size:
                if self._writer is not None:
                    self._writer.close()
                self._open_shard()
            self._writer.write(record)
            self._in_shard += 1
            self.count += 1

    def write(self, frame: pd.DataFrame) -> None:
        """Appends the rows of an interactions frame."""
        if len(frame):
            self.write_records(
                encode_interactions(
                    frame["user_id"].to_numpy(),
                    frame["item_id"].to_numpy(),
                    frame["timestamp"].to_numpy(),
                    frame["rating"].to_numpy(),
                )
            )

    def close(self) -> list[str]:
        """Finishes the last shard and returns the final shard paths.

        An empty stream still yields one (empty) shard so that every split of
        a data set has at least one file to point at.
        """
        if self._writer is None:
            self._open_shard()
        self._writer.close()
        total = len(self._temp_paths)
        finals = []
        for index, temp in enumerate(self._temp_paths):
            final = shard_name(self.path_prefix, index, total)
            os.replace(temp, final)
            finals.append(final)
        return finals

    def abort(self) -> None:
        """Removes the temporary shards after a failure."""
        if self._writer is not None:
            self._writer.close()
        for temp in self._temp_paths:
            if os.path.exists(temp):
                os.remove(temp)

    def __enter__(self) -> "InteractionShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def write_interactions(
    frame: pd.DataFrame, path_prefix: str, shard_size: int = 1_000_000
) -> list[str]:
    """Writes an interactions frame as shards and returns their paths."""
    with InteractionShardWriter(path_prefix, shard_size) as writer:
        for start in range(0, len(frame), 100_000):
            writer.write(frame.iloc[start : start + 100_000])
        return writer.close()


# --- reading ----------------------------------------------------------------


def _resolve(files: str | Sequence[str]) -> list[str]:
    if isinstance(files, (str, os.PathLike)):
        resolved = sorted(tf.io.gfile.glob(str(files)))
    else:
        resolved = [str(f) for f in files]
    if not resolved:
        raise MissingFileError(f"no interaction shards match {files!r}")
    return resolved


def read_interactions(
    files: str | Sequence[str], batch_size: int | None = None
) -> tf.data.Dataset:
    """Streams interaction records as dicts of tensors.

    Args:
      files: a glob pattern or a list of shard paths.
      batch_size: rows per element; ``None`` yields single interactions.

    Shards are read in parallel (deterministic interleave) and parsed
    ``batch_size`` (or 4096) records at a time with ``tf.io.parse_example``,
    which is far cheaper than parsing records one by one.
    """
    paths = _resolve(files)
    spec = interaction_feature_spec()
    dataset = tf.data.Dataset.from_tensor_slices(paths).interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(paths), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.batch(batch_size or _PARSE_BATCH).map(
        lambda records: tf.io.parse_example(records, spec),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if batch_size is None:
        dataset = dataset.unbatch()
    return dataset.prefetch(tf.data.AUTOTUNE)


def read_interactions_frame(files: str | Sequence[str]) -> pd.DataFrame:
    """Reads shards into one interactions frame (schema dtypes); for small sets."""
    parts = {name: [] for name in interaction_feature_spec()}
    for batch in read_interactions(files, batch_size=65_536).as_numpy_iterator():
        for name in parts:
            parts[name].append(batch[name])
    columns = {
        name: (np.concatenate(chunks) if chunks else np.array([])) for name, chunks in parts.items()
    }
    return pd.DataFrame(
        {
            "user_id": pd.Series(columns["user_id"], dtype=object).map(bytes.decode).to_numpy(object)
            if len(columns["user_id"])
            else np.array([], dtype=object),
            "item_id": pd.Series(columns["item_id"], dtype=object).map(bytes.decode).to_numpy(object)
            if len(columns["item_id"])
            else np.array([], dtype=object),
            "timestamp": columns["timestamp"].astype(np.int64),
            "rating": columns["rating"].astype(np.float32),
        }
    )
