"""Two-stage recommendation: retrieve candidates, rank them, return the best N.

1. the ``retrieval`` model returns each user's top ``candidates`` items (items
   the user already interacted with are excluded by that model);
2. the ``ranking`` model scores every (user, candidate) pair (with the
   retrieval score, when the ranker reads it);
3. the candidates are reordered by the ranking ``score`` and the first ``n``
   returned, distinct and unseen.

The core, :func:`two_stage`, takes the two stages as functions, so the same
code runs against SavedModels loaded in this process
(:class:`TwoStageRecommender`, what ``tfrec recommend --two-stage`` uses) and
against a TF Serving server over gRPC (:func:`grpc_stages`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfrec.errors import UserError
from tfrec.export.ranking_export import INFO_ASSET, MODEL_NAME
from tfrec.export.versions import version_path
from tfrec.models.ranking import RETRIEVAL_SCORE, SCORE
from tfrec.serving.saved_model_recommender import SavedModelRecommender
from tfrec.serving.top_k import first_k

# retrieve(user_ids, k) -> (item_ids [B, k] str, scores [B, k])
RetrieveFn = Callable[[list, int], tuple[np.ndarray, np.ndarray]]
# rank(user_ids [n], item_ids [n], retrieval_scores [n]) -> scores [n]
RankFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclasses.dataclass
class RankedItem:
    item_id: str
    score: float  # the ranking model's score
    retrieval_score: float
    retrieval_rank: int  # 1-based position in the retrieved candidates
    title: str = ""


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def two_stage(retrieve: RetrieveFn, rank: RankFn, user_ids, n: int = 10, candidates: int = 100,
              titles: dict | None = None) -> list[list[RankedItem]]:
    """Top ``n`` of each user's ``candidates`` retrieved items, ordered by the ranker.

    Candidates retrieval marks as unavailable (score ``-inf``: already seen,
    or fewer unseen items than asked for) are dropped, and each item appears
    once, so a user may get fewer than ``n`` items but never a seen or
    repeated one.
    """
    if n < 1 or candidates < 1:
        raise UserError(f"n and candidates must be at least 1, got n={n}, candidates={candidates}")
    if n > candidates:
        raise UserError(f"cannot return {n} items from {candidates} candidates; ask for more candidates")
    user_ids = [str(u) for u in user_ids]
    if not user_ids:
        return []
    item_ids, scores = retrieve(user_ids, candidates)
    item_ids = np.vectorize(_text, otypes=[object])(np.asarray(item_ids, dtype=object))
    scores = np.asarray(scores, np.float32)
    users, items, retrieved, owner, position = [], [], [], [], []
    for row, user in enumerate(user_ids):
        seen = set()
        for col in range(item_ids.shape[1]):
            item = item_ids[row, col]
            if not np.isfinite(scores[row, col]) or not item or item in seen:
                continue
            seen.add(item)
            users.append(user), items.append(item), retrieved.append(scores[row, col])
            owner.append(row), position.append(col + 1)
    ranked = (np.asarray(rank(np.asarray(users, object), np.asarray(items, object),
                              np.asarray(retrieved, np.float32)), np.float32)
              if items else np.zeros(0, np.float32))
    results = [[] for _ in user_ids]
    for i in range(len(items)):
        results[owner[i]].append(RankedItem(items[i], float(ranked[i]), float(retrieved[i]), position[i],
                                            (titles or {}).get(items[i], "")))
    # Stable sort: equal ranking scores keep the retrieval order.
    return [sorted(recs, key=lambda r: -r.score)[:n] for recs in results]


class TwoStageRecommender:
    """The newest (or given) ``retrieval`` and ``ranking`` versions under ``base``, loaded in this process."""

    def __init__(self, base: str = "saved_models", retrieval_version: int | None = None,
                 ranking_version: int | None = None):
        self.retrieval = SavedModelRecommender(base, retrieval_version)
        self.ranking_path = version_path(base, MODEL_NAME, ranking_version)
        self.ranking_version = int(os.path.basename(self.ranking_path))
        self._ranking = tf.saved_model.load(self.ranking_path).signatures["serving_default"]
        self.ranking_inputs = set(self._ranking.structured_input_signature[1])
        info = os.path.join(self.ranking_path, INFO_ASSET)
        self.info = json.load(open(info)) if os.path.exists(info) else {}

    def retrieve(self, user_ids, k: int):
        out = self.retrieval.raw(user_ids, k)
        return out["item_ids"], out["scores"]

    def rank(self, user_ids, item_ids, retrieval_scores, output: str = SCORE) -> np.ndarray:
        inputs = {"user_id": tf.constant(list(user_ids), tf.string), "item_id": tf.constant(list(item_ids), tf.string)}
        if RETRIEVAL_SCORE in self.ranking_inputs:
            inputs[RETRIEVAL_SCORE] = tf.constant(np.asarray(retrieval_scores, np.float32))
        return self._ranking(**inputs)[output].numpy()

    def recommend(self, user_ids, n: int = 10, candidates: int = 100) -> list[list[RankedItem]]:
        return two_stage(self.retrieve, self.rank, user_ids, n, candidates, self.retrieval.titles)


def grpc_stages(client, retrieval_model: str = "retrieval", ranking_model: str = MODEL_NAME,
                ranking_inputs: set | None = None) -> tuple[RetrieveFn, RankFn]:
    """``(retrieve, rank)`` that call a TF Serving server through a ``tfrec.serving.client.ServingClient``.

    ``ranking_inputs`` (default: read from the server's model metadata) says
    whether the ranker takes ``retrieval_score``.
    """
    if ranking_inputs is None:
        signatures = client.metadata(ranking_model)["signatures"]
        ranking_inputs = set(signatures.get("serving_default", {}).get("inputs", {}))

    def retrieve(user_ids, k):
        outputs, _ = client.predict(retrieval_model, {
            "user_id": tf.make_tensor_proto(list(user_ids), dtype=tf.string, shape=[len(user_ids)])})
        return first_k(outputs["item_ids"], outputs["scores"], k)

    def rank(user_ids, item_ids, retrieval_scores):
        inputs = {"user_id": tf.make_tensor_proto(list(user_ids), dtype=tf.string, shape=[len(user_ids)]),
                  "item_id": tf.make_tensor_proto(list(item_ids), dtype=tf.string, shape=[len(item_ids)])}
        if RETRIEVAL_SCORE in ranking_inputs:
            inputs[RETRIEVAL_SCORE] = tf.make_tensor_proto(np.asarray(retrieval_scores, np.float32))
        outputs, _ = client.predict(ranking_model, inputs)
        return outputs[SCORE]

    return retrieve, rank
