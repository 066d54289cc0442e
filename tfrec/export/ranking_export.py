"""Exports the ranking model as a TF Serving SavedModel: ``<base>/ranking/<version>/``.

Signature ``serving_default``:
  inputs  ``user_id`` string [B], ``item_id`` string [B] (one row per pair to
          score), and ``retrieval_score`` float32 [B] when the ranker reads the
          first stage's score (``model.use_retrieval_score``);
  outputs one float32 [B] per task (``rating``: predicted rating;
          ``engagement``: probability; ``listwise``: list score) and ``score``,
          the output a two-stage recommender orders by.

Signature ``with_history`` (rankers with a history encoder): also ``history``
string [B, H], each pair's user's latest items (newest last, padded with "").
``serving_default`` then uses each user's stored history (their latest items
in the data set), like the retrieval export, and both signatures also output
``because`` string [B] and ``because_score`` float32 [B]: the history item the
pair's ``score`` owes most to (:mod:`tfrec.export.explanations`).

The user's and the item's features (attributes, categories, title words,
cached content vectors) are looked up inside the model from the ids, as in
the retrieval export, so a request needs only ids; unknown ids use the
out-of-vocabulary embeddings and default features, never an error. A
``user_id`` and ``item_id`` of different lengths is INVALID_ARGUMENT. The
version is claimed first and published whole (:func:`tfrec.export.versions.new_version`).
"""

from __future__ import annotations

import json
import os

import pandas as pd
import tensorflow as tf

from tfrec.data.history import HISTORY, history_rows, latest_items
from tfrec.export.explanations import fixed_length, reasons, repeat_rows, without_each
from tfrec.export.retrieval_export import UserHistories
from tfrec.export.serving_config import BatchingSettings, write_model_batching_params
from tfrec.export.versions import new_version
from tfrec.export.warmup import warmup_requests, write_warmup_requests
from tfrec.models.ranking import RETRIEVAL_SCORE, SCORE

MODEL_NAME = "ranking"
INFO_ASSET = os.path.join("assets.extra", "ranking.json")


class RankingService(tf.Module):
    """(user id, item id) pairs → the ranking model's outputs; the object behind the SavedModel."""

    def __init__(self, model, users, items, histories=None):
        super().__init__()
        self.model, self.users, self.items, self.histories = model, users, items, histories
        self.uses_retrieval_score = RETRIEVAL_SCORE in model.pair_encoders
        self.history_length = model.history_length
        if self.history_length and histories is None:
            raise ValueError("a ranker with a history encoder needs the users' stored histories")
        ids = [tf.TensorSpec([None], tf.string, name="user_id"), tf.TensorSpec([None], tf.string, name="item_id")]
        score = [tf.TensorSpec([None], tf.float32, name=RETRIEVAL_SCORE)] if self.uses_retrieval_score else []
        history = [tf.TensorSpec([None, None], tf.string, name=HISTORY)]
        if self.uses_retrieval_score:
            self.serve = tf.function(self._serve_with_score, input_signature=ids + score)
            self.serve_with_history = tf.function(self._serve_with_score_and_history,
                                                  input_signature=ids + score + history)
        else:
            self.serve = tf.function(self._serve, input_signature=ids)
            self.serve_with_history = tf.function(self._serve_with_history, input_signature=ids + history)

    def _serve(self, user_id, item_id):
        return self._score(user_id, item_id, None, None)

    def _serve_with_score(self, user_id, item_id, retrieval_score):
        return self._score(user_id, item_id, retrieval_score, None)

    def _serve_with_history(self, user_id, item_id, history):
        return self._score(user_id, item_id, None, history)

    def _serve_with_score_and_history(self, user_id, item_id, retrieval_score, history):
        return self._score(user_id, item_id, retrieval_score, history)

    def _score(self, user_id, item_id, retrieval_score, history):
        checks = [tf.debugging.assert_equal(tf.shape(user_id), tf.shape(item_id),
                                            message="user_id and item_id must have the same length")]
        if retrieval_score is not None:
            checks.append(tf.debugging.assert_equal(tf.shape(retrieval_score), tf.shape(item_id),
                                                    message="retrieval_score must have one value per item_id"))
        if history is not None:
            checks.append(tf.debugging.assert_equal(tf.shape(history)[0], tf.shape(item_id)[0],
                                                    message="history must have one row per item_id"))
        with tf.control_dependencies(checks):
            features = {"user_id": tf.identity(user_id), "item_id": tf.identity(item_id)}
        features.update(self.users(features["user_id"]))
        features.update(self.items(features["item_id"]))
        if retrieval_score is not None:
            features[RETRIEVAL_SCORE] = retrieval_score
        if self.history_length:
            if history is None:
                history = self.histories(features["user_id"])
            features[HISTORY] = fixed_length(history, self.history_length)
        outputs = self.model.serving_outputs(self.model(features, training=False))
        if self.history_length:
            outputs.update(self._reasons(features, outputs[SCORE]))
        return {name: tf.identity(value, name=name) for name, value in outputs.items()}

    def _reasons(self, features, score):
        """``because``/``because_score`` of each pair: each history item removed in turn."""
        length, history = self.history_length, features[HISTORY]
        without = repeat_rows(features, length)
        without[HISTORY] = without_each(history, length)
        scores = self.model.serving_outputs(self.model(without, training=False))[SCORE]
        return reasons(history, score, tf.reshape(scores, [-1, length]))


# A two-stage ranking request carries one user's candidates (100 rows by default).
RANKING_BATCHING = BatchingSettings(max_batch_size=1024, batch_timeout_micros=2000)


def ranking_warmup(exp, service: RankingService) -> list:
    """Warm-up requests of every signature at 1, 8 and 64 pairs, from real ids (and stored histories)."""
    interactions = exp.base.dataset.interactions
    users = [str(u) for u in pd.unique(interactions.user_id)[:16]]
    items = [str(i) for i in pd.unique(interactions.item_id)[:16]]
    columns = {"user_id": (tf.string, users), "item_id": (tf.string, items)}
    if service.uses_retrieval_score:
        columns[RETRIEVAL_SCORE] = (tf.float32, [0.0])
    requests = warmup_requests(MODEL_NAME, "serving_default", columns, batch_sizes=(1, 8, 64))
    if service.history_length:
        stored = latest_items(interactions, service.history_length)
        columns[HISTORY] = (tf.string, history_rows(stored, users, service.history_length).tolist())
        requests += warmup_requests(MODEL_NAME, "with_history", columns, batch_sizes=(1, 8, 64))
    return requests


def export_ranking(exp, model, base: str, version: int | None = None, log=print) -> str:
    """Writes ``<base>/ranking/<version>/`` (claimed first, published whole) and returns its path.

    ``exp`` is the run's :class:`~tfrec.training.ranking_experiment.RankingExperiment`.
    """
    length = exp.config.model.history.length
    histories = UserHistories(exp.base.dataset.interactions, length) if length else None
    service = RankingService(model, exp.base.join.users, exp.base.join.items, histories)
    with new_version(base, MODEL_NAME, version, log=log) as (version, folder):
        signatures = {"serving_default": service.serve.get_concrete_function()}
        if service.history_length:
            signatures["with_history"] = service.serve_with_history.get_concrete_function()
        tf.saved_model.save(service, folder, signatures=signatures)
        os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
        with open(os.path.join(folder, INFO_ASSET), "w") as f:
            json.dump({"name": exp.config.name, "tasks": model.task_weights, "score": model.score_task,
                       "retrieval_score_input": service.uses_retrieval_score,
                       "history_length": service.history_length,
                       "candidates_k": exp.config.candidates.k}, f, indent=2)
        write_warmup_requests(folder, ranking_warmup(exp, service))
        write_model_batching_params(folder, RANKING_BATCHING)
    return os.path.join(base, MODEL_NAME, str(version))
