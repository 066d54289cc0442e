"""Exports the retrieval model as a TF Serving SavedModel with a TFRS BruteForce index.

Signature ``serving_default``:
  inputs  ``user_id`` string [B];
  outputs ``item_ids`` string [B, max_k], ``scores`` float32 [B, max_k], best first.
Every input has a batch dimension, so TF Serving's ``--enable_batching`` can
concatenate requests; a client wanting fewer items keeps the first k of each
row (the width ``max_k`` is static, so ``GetModelMetadata`` states it).
Signature ``with_history`` (models with a history encoder): also ``history``
string [B, L] — the user's latest items, newest last, padded with "" — so a
client's fresh events change the recommendations at once. ``serving_default``
uses each user's stored history (their latest items in the data set). Both
signatures of such a model also output ``because`` string [B, max_k] and
``because_score`` float32 [B, max_k]: the history item each recommendation owes
most to, and how much lower it scores without it (:mod:`tfrec.export.explanations`).

The user's features are looked up inside the model from its id, so a client
sends only the id; an unknown id uses the out-of-vocabulary embedding and
default features. With ``exclude_seen`` the items a user already interacted
with (anywhere in the data set) are never returned. Item titles ride along in
``assets.extra/items.json`` (TF Serving ignores that folder apart from
warm-up records) so a client can show names without another store.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.data.feature_table import FeatureTable
from tfrec.data.history import HISTORY, PAD, history_rows, latest_items
from tfrec.evaluation.embedding_scorer import candidate_embeddings
from tfrec.export.explanations import fixed_length, reasons, repeat_rows, without_each
from tfrec.export.partitioned_index import PartitionedIndex
from tfrec.export.serving_config import BatchingSettings, write_model_batching_params
from tfrec.export.versions import new_version
from tfrec.export.warmup import warmup_requests, write_warmup_requests

ITEMS_ASSET = os.path.join("assets.extra", "items.json")
INFO_ASSET = os.path.join("assets.extra", "retrieval.json")  # what a client needs to know: history length, max_k


class SeenItems(tf.Module):
    """The items each known user interacted with, as a ragged lookup by user id."""

    def __init__(self, seen: pd.DataFrame):
        super().__init__()
        grouped = seen.groupby("user_id", sort=True).item_id.apply(list)
        users = grouped.index.to_numpy(dtype=str).astype(object)
        self.max_count = int(grouped.map(len).max()) if len(grouped) else 0
        self._row = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(users), tf.range(len(users), dtype=tf.int64)),
            default_value=len(users),
        )
        values = np.concatenate([np.asarray(v, dtype=object) for v in grouped] or [np.zeros(0, object)])
        lengths = np.append(grouped.map(len).to_numpy(np.int64), 0)  # the last row: unknown users
        self._values = tf.Variable(values.astype(str).astype(object), dtype=tf.string, trainable=False)
        self._lengths = tf.Variable(lengths, trainable=False)

    def __call__(self, user_ids: tf.Tensor) -> tf.Tensor:
        """``[B, S]`` seen item ids, padded with empty strings."""
        ragged = tf.RaggedTensor.from_row_lengths(self._values, self._lengths)
        return tf.gather(ragged, self._row.lookup(user_ids)).to_tensor(default_value="")


class UserHistories(tf.Module):
    """Each known user's latest ``length`` items (newest last, left-padded), by user id."""

    def __init__(self, interactions: pd.DataFrame, length: int):
        super().__init__()
        latest = latest_items(interactions, length)
        users = np.asarray(list(latest), dtype=object)
        self._row = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(users, tf.string), tf.range(len(users), dtype=tf.int64)),
            default_value=len(users),
        )
        rows = np.stack([*latest.values(), np.full(length, PAD, dtype=object)])
        self._histories = tf.Variable(rows.astype(str).astype(object), dtype=tf.string, trainable=False)

    def __call__(self, user_ids: tf.Tensor) -> tf.Tensor:
        return tf.gather(self._histories, self._row.lookup(user_ids))


class ItemVectors(tf.Module):
    """The index's candidate embeddings, by item id (to rescore the recommended items).

    It reads the index's own embedding variable (rows in ``item_ids`` order),
    so the SavedModel holds the catalogue's embeddings once.
    """

    def __init__(self, item_ids: np.ndarray, index: tfrs.layers.factorized_top_k.BruteForce):
        super().__init__()
        ids = tf.constant(np.asarray(item_ids).astype(str).astype(object), tf.string)
        self._row = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(ids, tf.range(len(item_ids), dtype=tf.int64)), default_value=0)
        self._vectors = index._candidates  # noqa: SLF001 (TFRS keeps no public handle on the indexed embeddings)

    def __call__(self, item_ids: tf.Tensor) -> tf.Tensor:
        return tf.gather(self._vectors, self._row.lookup(item_ids))


class RetrievalService(tf.Module):
    """User id (and recent items) → top-k item ids and scores; the object behind the SavedModel.

    With a history, every recommendation also says which history item it owes
    most to (:mod:`tfrec.export.explanations`).
    """

    def __init__(self, query_tower, users: FeatureTable, index,
                 num_items: int, max_k: int, seen: SeenItems | None, histories: UserHistories | None = None,
                 history_length: int = 0, item_vectors: ItemVectors | None = None):
        super().__init__()
        self.query_tower, self.users, self.index, self.seen = query_tower, users, index, seen
        self.histories, self.history_length, self.item_vectors = histories, history_length, item_vectors
        self.max_k = min(max_k, num_items)
        self.fetch_k = min(num_items, self.max_k + (seen.max_count if seen else 0) + history_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id")])
    def serve(self, user_id):
        """Recommendations from what the model knows of the user (their stored history)."""
        history = self.histories(user_id) if self.histories is not None else None
        return self._top_k(user_id, history)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id"),
                                  tf.TensorSpec([None, None], tf.string, name="history")])
    def serve_with_history(self, user_id, history):
        """Recommendations from the user's latest items as the client sends them (newest last,
        padded with ""); unknown items are ignored; items in it are not recommended back."""
        checks = [tf.debugging.assert_equal(tf.shape(history)[0], tf.shape(user_id)[0],
                                            message="history must have one row per user_id")]
        with tf.control_dependencies(checks):
            history = fixed_length(history, self.history_length)
        return self._top_k(user_id, history)

    def index_description(self) -> dict:
        """What answers the queries, for the export's info asset."""
        if isinstance(self.index, PartitionedIndex):
            return {"kind": "partitioned", "partitions": self.index.partitions, "nprobe": self.index.nprobe,
                    "quantize": self.index.quantize}
        return {"kind": "brute_force"}

    def _top_k(self, user_id, history):
        features = {"user_id": user_id, **self.users(user_id)}
        if history is not None:
            features[HISTORY] = history
        scores, ids = self.index(self.query_tower(features), k=self.fetch_k)
        if self.seen is not None:
            seen = self.seen(user_id)
            if history is not None:
                seen = tf.concat([seen, history], axis=1)
            is_seen = tf.reduce_any(tf.equal(ids[:, :, None], seen[:, None, :]), axis=-1)
            scores = tf.where(is_seen, tf.fill(tf.shape(scores), -np.inf), scores)
        top_scores, order = tf.math.top_k(scores, k=self.max_k)
        out = {"item_ids": tf.gather(ids, order, batch_dims=1), "scores": top_scores}
        if history is not None and self.item_vectors is not None:
            out.update(self._reasons(features, history, out["item_ids"], top_scores))
        return out

    def _reasons(self, features, history, item_ids, scores):
        """``because``/``because_score`` of each recommendation: each history item removed in turn."""
        length = self.history_length
        without = repeat_rows({**features, HISTORY: history}, length)
        without[HISTORY] = without_each(history, length)
        flat = self.query_tower(without)  # [B·L, D]
        # The width is given, not inferred: for an empty batch a -1 cannot be inferred from no values.
        queries = tf.reshape(flat, [tf.shape(history)[0], length, flat.shape[-1] or tf.shape(flat)[-1]])
        vectors = self.item_vectors(item_ids)  # [B, K, D]
        return reasons(history, scores, tf.einsum("bld,bkd->blk", queries, vectors))


def build_index(exp, embeddings, item_ids: np.ndarray, max_k: int, log=print):
    """The export's index of the catalogue (``export.index``): TFRS brute force, or partitioned."""
    settings = exp.config.export
    if settings.index_for(len(item_ids)) == "brute_force":
        index = tfrs.layers.factorized_top_k.BruteForce(k=min(max_k, len(item_ids)))
        index.index(embeddings, tf.constant(item_ids.astype(str).astype(object)))
        return index
    return PartitionedIndex(np.asarray(embeddings), item_ids, partitions=settings.partitions,
                            nprobe=settings.nprobe, quantize=settings.quantize, seed=exp.config.train.seed, log=log)


def build_service(exp, model, max_k: int, exclude_seen: bool, log=print) -> RetrievalService:
    item_ids = exp.item_ids
    embeddings = candidate_embeddings(model.candidate_tower, exp.join, item_ids)
    index = build_index(exp, embeddings, item_ids, max_k, log)
    seen = SeenItems(exp.every_interaction()) if exclude_seen else None
    length = exp.config.model.history.length
    histories = UserHistories(exp.dataset.interactions, length) if length else None
    vectors = (index.vectors if isinstance(index, PartitionedIndex) else ItemVectors(item_ids, index)) \
        if length else None
    return RetrievalService(model.query_tower, exp.join.users, index, len(item_ids), max_k, seen,
                            histories, length, vectors)


# A request carries a few users; two-stage calls carry one.
RETRIEVAL_BATCHING = BatchingSettings(max_batch_size=256, batch_timeout_micros=1000)


def retrieval_warmup(exp, service: RetrievalService) -> list:
    """Warm-up requests of every signature, from real user ids (and their stored histories)."""
    users = [str(u) for u in pd.unique(exp.dataset.interactions.user_id)[:16]]
    requests = warmup_requests("retrieval", "serving_default", {"user_id": (tf.string, users)})
    if service.histories is not None:
        stored = latest_items(exp.dataset.interactions, service.history_length)
        histories = history_rows(stored, users, service.history_length).tolist()
        requests += warmup_requests("retrieval", "with_history",
                                    {"user_id": (tf.string, users), "history": (tf.string, histories)})
    return requests


def export_retrieval(exp, model, base: str, version: int | None = None, max_k: int = 100,
                     exclude_seen: bool = True, log=print) -> str:
    """Writes ``<base>/retrieval/<version>/`` (claimed first, published whole) and returns its path."""
    service = build_service(exp, model, max_k, exclude_seen, log)
    with new_version(base, "retrieval", version, log=log) as (version, folder):
        signatures = {"serving_default": service.serve.get_concrete_function()}
        if service.histories is not None:
            signatures["with_history"] = service.serve_with_history.get_concrete_function()
        tf.saved_model.save(service, folder, signatures=signatures)
        os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
        items = exp.dataset.items
        with open(os.path.join(folder, ITEMS_ASSET), "w") as f:
            json.dump(dict(zip(items.item_id, items.title)), f)
        with open(os.path.join(folder, INFO_ASSET), "w") as f:
            json.dump({"history_length": service.history_length, "max_k": service.max_k,
                       "index": service.index_description()}, f, indent=2)
        write_warmup_requests(folder, retrieval_warmup(exp, service))
        write_model_batching_params(folder, RETRIEVAL_BATCHING)
    return os.path.join(base, "retrieval", str(version))
