"""A partitioned (inverted-file) retrieval index made of stock TensorFlow ops.

Brute force scores every item for every query: exact, and linear in the
catalogue (about 9 ms a query at 1M items on 2 cores). This index clusters
the item embeddings at export (k-means), keeps the items sorted by partition,
and answers a query by scoring the partition centroids, taking the ``nprobe``
best partitions and ranking only their items, exactly. What it can miss is an
item whose partition was not probed; ``benchmarks/index.py`` measures how
often (recall@100 against brute force) and how much faster it is.

Optionally each item vector is stored as int8 with a per-vector scale
(``quantize="int8"``): a quarter of the memory and SavedModel size, scores
off by at most half a quantisation step per coordinate.

Everything is ``tf.Variable``s and ops every TensorFlow build has (MatMul,
TopKV2, RaggedRange, GatherV2, a ``map_fn`` while loop), so the SavedModel
loads in stock TF Serving. Queries are answered one row at a time inside the
graph (``map_fn``), so the memory of a batch is bounded by the probed items of
a few queries, not by the batch size.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

QUANTISATIONS = ("none", "int8")


def kmeans(vectors: np.ndarray, partitions: int, iterations: int = 10, sample: int = 262_144,
           seed: int = 0, chunk: int | None = None) -> np.ndarray:
    """``partitions`` centroids of ``vectors`` (Lloyd's algorithm on a sample of at most ``sample`` rows).

    An empty cluster is re-seeded from a random sample row, so every centroid
    ends up owning items. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    n = len(vectors)
    rows = rng.choice(n, size=min(n, max(sample, partitions)), replace=False) if n > sample else np.arange(n)
    points = np.asarray(vectors[np.sort(rows)], dtype=np.float32)
    centroids = points[rng.choice(len(points), size=partitions, replace=False)].copy()
    for _ in range(iterations):
        owner = assign(points, centroids, chunk)
        counts = np.bincount(owner, minlength=partitions)
        sums = np.zeros_like(centroids)
        np.add.at(sums, owner, points)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):
            centroids[empty] = points[rng.choice(len(points), size=len(empty), replace=False)]
    return centroids


def assign(vectors: np.ndarray, centroids: np.ndarray, chunk: int | None = None) -> np.ndarray:
    """The nearest centroid (Euclidean) of every vector, ``chunk`` rows at a time (default: a block of
    scores of about 64 MB, whatever the partition count)."""
    chunk = chunk or max(256, (16 << 20) // max(1, len(centroids)))
    half_norms = 0.5 * np.einsum("pd,pd->p", centroids, centroids)
    owner = np.empty(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start:start + chunk], dtype=np.float32)
        owner[start:start + chunk] = np.argmax(block @ centroids.T - half_norms, axis=1)
    return owner


def default_partitions(num_items: int) -> int:
    """About 4·√N partitions (about 800 items each at 10M): finer partitions reach a given recall
    scanning a smaller share of the catalogue (benchmarks/index.py)."""
    return max(1, min(num_items, int(round(4 * np.sqrt(num_items)))))


def default_nprobe(partitions: int) -> int:
    """About 3% of the partitions, at least 32: recall@100 0.97 at 1M items (benchmarks/index.py)."""
    return min(partitions, max(32, int(round(0.03 * partitions))))


class PartitionedIndex(tf.Module):
    """``index(queries, k) -> (scores, ids)`` like TFRS's ``BruteForce``, over the ``nprobe`` best partitions.

    ``vectors(item_ids)`` returns the (dequantised) embeddings of items by id,
    for rescoring what was recommended. ``centroids`` skips the k-means (one
    clustering shared by several indexes of the same items); ``lookup=False``
    leaves out the id lookup behind ``vectors`` (a hash table of every id).
    """

    def __init__(self, embeddings: np.ndarray, item_ids: np.ndarray, partitions: int | None = None,
                 nprobe: int = 0, quantize: str = "none", seed: int = 0, log=print,
                 centroids: np.ndarray | None = None, lookup: bool = True):
        super().__init__()
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(item_ids) or len(item_ids) == 0:
            raise ValueError("the index needs one embedding row per item id, and at least one item")
        if quantize not in QUANTISATIONS:
            raise ValueError(f"quantize must be one of {QUANTISATIONS}, got {quantize!r}")
        if centroids is None:
            partitions = default_partitions(len(item_ids)) if not partitions else min(int(partitions), len(item_ids))
            log(f"partitioned index: k-means of {len(item_ids):,} items into {partitions:,} partitions")
            centroids = kmeans(embeddings, partitions, seed=seed)
        partitions = len(centroids)
        self.partitions, self.quantize = partitions, quantize
        self.nprobe = max(1, min(int(nprobe) or default_nprobe(partitions), partitions))
        # A variable, so a loaded index can be re-tuned without a new export (benchmarks/index.py does).
        self._nprobe = tf.Variable(self.nprobe, dtype=tf.int32, trainable=False, name="nprobe")
        owner = assign(embeddings, centroids)
        order = np.argsort(owner, kind="stable")
        offsets = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=partitions))]).astype(np.int64)
        sorted_vectors = embeddings[order]
        ids = np.asarray(item_ids).astype(str)[order]

        self._centroids = tf.Variable(centroids, trainable=False, name="centroids")
        self._starts = tf.Variable(offsets[:-1], trainable=False, name="partition_starts")
        self._limits = tf.Variable(offsets[1:], trainable=False, name="partition_limits")
        if quantize == "int8":
            scale = np.maximum(np.abs(sorted_vectors).max(axis=1), 1e-12) / 127.0
            codes = np.clip(np.rint(sorted_vectors / scale[:, None]), -127, 127).astype(np.int8)
            self._vectors = tf.Variable(codes, trainable=False, name="item_codes")
            self._scales = tf.Variable(scale.astype(np.float32), trainable=False, name="item_scales")
        else:
            self._vectors = tf.Variable(sorted_vectors, trainable=False, name="item_vectors")
            self._scales = None
        # One sentinel id past the end: what a query that probed fewer than k items returns in the tail.
        self._ids = tf.Variable(np.append(ids, "").astype(object), dtype=tf.string, trainable=False, name="item_ids")
        self._row = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(ids.astype(object), tf.string),
                                                tf.range(len(ids), dtype=tf.int64)), default_value=0) \
            if lookup else None
        self.num_items = len(ids)

    def _rows(self, rows: tf.Tensor) -> tf.Tensor:
        """Float embeddings of sorted rows."""
        vectors = tf.gather(self._vectors, rows)
        if self._scales is None:
            return vectors
        return tf.cast(vectors, tf.float32) * tf.gather(self._scales, rows)[:, None]

    def vectors(self, item_ids: tf.Tensor) -> tf.Tensor:
        """The embeddings of ``item_ids`` (any shape), as the index scores them."""
        rows = self._row.lookup(item_ids)
        flat = self._rows(tf.reshape(rows, [-1]))
        return tf.reshape(flat, tf.concat([tf.shape(rows), [self._vectors.shape[-1]]], axis=0))  # no -1: empty rows

    def __call__(self, queries: tf.Tensor, k: int):
        """The ``k`` best items of every query row: ``(scores [B, k], ids [B, k])``, best first.

        Rows that probed fewer than ``k`` items end with score ``-inf`` and id ``""``.
        """
        k = int(k)
        sentinel = tf.constant(self.num_items, tf.int64)

        def one(query):
            _, probe = tf.math.top_k(tf.linalg.matvec(self._centroids, query),
                                     k=tf.clip_by_value(self._nprobe, 1, self.partitions))
            rows = tf.ragged.range(tf.gather(self._starts, probe), tf.gather(self._limits, probe)).flat_values
            scores = tf.linalg.matvec(self._rows(rows), query)
            missing = tf.maximum(0, k - tf.shape(rows)[0])
            scores = tf.concat([scores, tf.fill([missing], tf.constant(-np.inf, tf.float32))], axis=0)
            rows = tf.concat([rows, tf.fill([missing], sentinel)], axis=0)
            top, at = tf.math.top_k(scores, k=k)
            return top, tf.gather(self._ids, tf.gather(rows, at))

        return tf.map_fn(one, queries, fn_output_signature=(tf.TensorSpec([k], tf.float32),
                                                           tf.TensorSpec([k], tf.string)))
