"""Two-stage recommendation: retrieve candidates, rank them, return the best N.

1. the ``retrieval`` model returns each user's top ``candidates`` items (items
   the user already interacted with are excluded by that model);
2. the ``ranking`` model scores every (user, candidate) pair (with the
   retrieval score, when the ranker reads it);
3. the candidates are reordered by the ranking ``score`` and the first ``n``
   returned, distinct and unseen.

Given each user's latest items (``histories``, e.g. from an event store),
both stages read them through their ``with_history`` signatures instead of
the histories stored at export, so a click changes the next answer. Each
item carries the reason the models give (``because``: the history item its
score owes most to; the ranker's reason, else the retrieval model's).

The core, :func:`two_stage`, takes the two stages as functions, so the same
code runs against SavedModels loaded in this process
(:class:`TwoStageRecommender`, what ``tfrec recommend --two-stage`` uses) and
against a TF Serving server over gRPC (:func:`grpc_stages`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from tfrec.data.history import HISTORY, padded
from tfrec.errors import UserError
from tfrec.export.ranking_export import INFO_ASSET, MODEL_NAME
from tfrec.export.versions import version_path
from tfrec.models.ranking import RETRIEVAL_SCORE, SCORE
from tfrec.serving.saved_model_recommender import SavedModelRecommender, json_asset, refusal

# retrieve(user_ids, k[, histories=]) -> (item_ids [B, k] str, scores [B, k]) or the signature's outputs (a dict
# with item_ids, scores and maybe because, because_score)
RetrieveFn = Callable[..., tuple[np.ndarray, np.ndarray] | dict]
# rank(user_ids [n], item_ids [n], retrieval_scores [n][, histories=[n, L]]) -> scores [n] or the signature's
# outputs (a dict with score and maybe because, because_score)
RankFn = Callable[..., np.ndarray | dict]


@dataclasses.dataclass
class RankedItem:
    item_id: str
    score: float  # the ranking model's score
    retrieval_score: float
    retrieval_rank: int  # 1-based position in the retrieved candidates
    title: str = ""
    because: str = ""  # the history item the recommendation owes most to ("" when none)
    because_score: float = 0.0  # how much lower it scores without that item
    because_title: str = ""


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _outputs(value, names: tuple[str, ...]) -> dict:
    """A stage's answer as a dict of arrays (a bare array or tuple is given the names in order)."""
    if isinstance(value, dict):
        return value
    return dict(zip(names, value if isinstance(value, tuple) else (value,)))


def two_stage(retrieve: RetrieveFn, rank: RankFn, user_ids, n: int = 10, candidates: int = 100,
              titles: dict | None = None, histories=None) -> list[list[RankedItem]]:
    """Top ``n`` of each user's ``candidates`` retrieved items, ordered by the ranker.

    Candidates retrieval marks as unavailable (score ``-inf``: already seen,
    or fewer unseen items than asked for) are dropped, and each item appears
    once, so a user may get fewer than ``n`` items but never a seen or
    repeated one. ``histories``: each user's latest items (newest last), read
    by both stages instead of the histories stored at export.
    """
    if n < 1 or candidates < 1:
        raise UserError(f"n and candidates must be at least 1, got n={n}, candidates={candidates}")
    if n > candidates:
        raise UserError(f"cannot return {n} items from {candidates} candidates; ask for more candidates")
    user_ids = [str(u) for u in user_ids]
    if not user_ids:
        return []
    extra = {} if histories is None else {"histories": [list(h) for h in histories]}
    found = _outputs(retrieve(user_ids, candidates, **extra), ("item_ids", "scores"))
    item_ids = np.vectorize(_text, otypes=[object])(np.asarray(found["item_ids"], dtype=object))
    scores = np.asarray(found["scores"], np.float32)
    users, items, retrieved, owner, position, retrieval_because = [], [], [], [], [], []
    for row, user in enumerate(user_ids):
        seen = set()
        for col in range(item_ids.shape[1]):
            item = item_ids[row, col]
            if not np.isfinite(scores[row, col]) or not item or item in seen:
                continue
            seen.add(item)
            users.append(user), items.append(item), retrieved.append(scores[row, col])
            owner.append(row), position.append(col + 1)
            retrieval_because.append((_text(found["because"][row, col]), float(found["because_score"][row, col]))
                                     if "because" in found else ("", 0.0))
    ranked = {"score": np.zeros(0, np.float32)}
    if items:
        pair_extra = {} if histories is None else {"histories": [extra["histories"][o] for o in owner]}
        ranked = _outputs(rank(np.asarray(users, object), np.asarray(items, object),
                               np.asarray(retrieved, np.float32), **pair_extra), ("score",))
    titles = titles or {}
    results = [[] for _ in user_ids]
    for i in range(len(items)):
        because, because_score = retrieval_because[i]
        if "because" in ranked:
            because, because_score = _text(ranked["because"][i]), float(ranked["because_score"][i])
        results[owner[i]].append(RankedItem(items[i], float(np.asarray(ranked["score"])[i]), float(retrieved[i]),
                                            position[i], titles.get(items[i], ""), because, because_score,
                                            titles.get(because, "") if because else ""))
    # Stable sort: equal ranking scores keep the retrieval order.
    return [sorted(recs, key=lambda r: -r.score)[:n] for recs in results]


class TwoStageRecommender:
    """The newest (or given) ``retrieval`` and ``ranking`` versions under ``base``, loaded in this process."""

    def __init__(self, base: str = "saved_models", retrieval_version: int | None = None,
                 ranking_version: int | None = None):
        self.retrieval = SavedModelRecommender(base, retrieval_version)
        self.ranking_path = version_path(base, MODEL_NAME, ranking_version)
        self.ranking_version = int(os.path.basename(self.ranking_path))
        signatures = tf.saved_model.load(self.ranking_path).signatures
        self._ranking = signatures["serving_default"]
        self._ranking_with_history = signatures.get("with_history")
        self.ranking_inputs = set(self._ranking.structured_input_signature[1])
        self.info = json_asset(os.path.join(self.ranking_path, INFO_ASSET))

    def retrieve(self, user_ids, k: int, histories=None) -> dict:
        return self.retrieval.raw(user_ids, k, histories if self.retrieval.reads_history else None)

    def rank(self, user_ids, item_ids, retrieval_scores, histories=None, output: str | None = SCORE):
        """The ranker's ``output`` per pair (every output, as a dict, when ``output`` is None); ``histories``
        (one row per pair) selects ``with_history``."""
        inputs = {"user_id": tf.constant(list(user_ids), tf.string), "item_id": tf.constant(list(item_ids), tf.string)}
        if RETRIEVAL_SCORE in self.ranking_inputs:
            inputs[RETRIEVAL_SCORE] = tf.constant(np.asarray(retrieval_scores, np.float32))
        signature = self._ranking
        if histories is not None and self._ranking_with_history is not None:
            inputs[HISTORY], signature = tf.constant(padded(histories), tf.string), self._ranking_with_history
        try:
            outputs = {name: value.numpy() for name, value in signature(**inputs).items()}
        except tf.errors.InvalidArgumentError as e:
            raise UserError(f"ranking version {self.ranking_version} refused the request: {refusal(e)}") from None
        return outputs if output is None else outputs[output]

    def recommend(self, user_ids, n: int = 10, candidates: int = 100, histories=None) -> list[list[RankedItem]]:
        """Each user's best ``n`` of ``candidates``; ``histories``: see :func:`two_stage` (read by the stages
        that have a history; refused when neither has)."""
        if histories is not None and not self.retrieval.reads_history and self._ranking_with_history is None:
            raise UserError(f"neither retrieval version {self.retrieval.version} nor ranking version "
                            f"{self.ranking_version} reads a history, so recent events cannot change their answers")
        rank = lambda *args, **kwargs: self.rank(*args, **kwargs, output=None)
        return two_stage(self.retrieve, rank, user_ids, n, candidates, self.retrieval.titles, histories)


def grpc_stages(client, retrieval_model: str = "retrieval", ranking_model: str = MODEL_NAME,
                ranking_inputs: set | None = None, ranking_signatures: set | None = None,
                retrieval_versions: list | None = None) -> tuple[RetrieveFn, RankFn]:
    """``(retrieve, rank)`` that call a TF Serving server through a ``tfrec.serving.client.ServingClient``.

    ``ranking_inputs`` and ``ranking_signatures`` (default: read from the
    server's model metadata) say whether the ranker takes ``retrieval_score``
    and whether it reads histories (``with_history``). ``retrieval_versions``,
    when given, collects the retrieval version of every answer (whose export
    names the items, for titles).
    """
    if ranking_inputs is None or ranking_signatures is None:
        signatures = client.metadata(ranking_model)["signatures"]
        ranking_inputs = set(signatures.get("serving_default", {}).get("inputs", {}))
        ranking_signatures = set(signatures)
    retrieval_reads_history = None

    def retrieve(user_ids, k, histories=None):
        nonlocal retrieval_reads_history
        if histories is not None and retrieval_reads_history is None:
            retrieval_reads_history = "with_history" in client.metadata(retrieval_model)["signatures"]
            if not retrieval_reads_history and "with_history" not in ranking_signatures:
                raise UserError(f"neither {retrieval_model} nor {ranking_model} reads a history, so recent events "
                                "cannot change their answers")
        outputs, version = client.retrieve(user_ids, k, retrieval_model,
                                           histories=histories if retrieval_reads_history else None)
        if retrieval_versions is not None:
            retrieval_versions.append(version)
        return outputs

    def rank(user_ids, item_ids, retrieval_scores, histories=None):
        inputs = {"user_id": tf.make_tensor_proto(list(user_ids), dtype=tf.string, shape=[len(user_ids)]),
                  "item_id": tf.make_tensor_proto(list(item_ids), dtype=tf.string, shape=[len(item_ids)])}
        if RETRIEVAL_SCORE in ranking_inputs:
            inputs[RETRIEVAL_SCORE] = tf.make_tensor_proto(np.asarray(retrieval_scores, np.float32))
        signature = "serving_default"
        if histories is not None and "with_history" in ranking_signatures:
            inputs[HISTORY], signature = tf.make_tensor_proto(padded(histories), dtype=tf.string), "with_history"
        outputs, _ = client.predict(ranking_model, inputs, signature_name=signature)
        return outputs

    return retrieve, rank
