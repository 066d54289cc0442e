"""Recommendations from an exported retrieval SavedModel, in this process.

What ``tfrec recommend`` uses without ``--server``: it loads
``<base>/retrieval/<version>/`` exactly as TF Serving would, calls its
``serving_default`` signature, and adds titles from ``assets.extra/items.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from tfrec.export.retrieval_export import ITEMS_ASSET
from tfrec.export.versions import version_path
from tfrec.serving.top_k import first_k


@dataclasses.dataclass
class Recommendation:
    item_id: str
    score: float
    title: str


class SavedModelRecommender:
    """Loads the newest (or a given) version of the retrieval model under ``base``."""

    def __init__(self, base: str = "saved_models", version: int | None = None):
        self.path = version_path(base, "retrieval", version)
        self.version = int(os.path.basename(self.path))
        self._signature = tf.saved_model.load(self.path).signatures["serving_default"]
        titles_path = os.path.join(self.path, ITEMS_ASSET)
        self.titles = json.load(open(titles_path)) if os.path.exists(titles_path) else {}

    def raw(self, user_ids, k: int) -> dict[str, np.ndarray]:
        """``item_ids`` and ``scores``, [B, k] each: the first ``k`` of the model's top ``max_k``."""
        out = self._signature(user_id=tf.constant(list(user_ids), tf.string))
        item_ids, scores = first_k(out["item_ids"].numpy(), out["scores"].numpy(), k)
        return {"item_ids": item_ids, "scores": scores}

    def recommend(self, user_ids, k: int = 10) -> list[list[Recommendation]]:
        """Each user's top ``k``; fewer when the user has seen almost everything (a seen item scores -inf
        in the export and is never shown)."""
        out = self.raw(user_ids, k)
        return [
            [Recommendation(i.decode(), float(s), self.titles.get(i.decode(), ""))
             for i, s in zip(ids, scores) if s > float("-inf")]
            for ids, scores in zip(out["item_ids"], out["scores"])
        ]
