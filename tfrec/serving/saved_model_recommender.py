"""Recommendations from an exported retrieval SavedModel, in this process.

What ``tfrec recommend`` uses without ``--server``: it loads
``<base>/retrieval/<version>/`` exactly as TF Serving would, calls its
``serving_default`` signature (``with_history`` when it is given the users'
latest items, e.g. from an event store), and adds titles from
``assets.extra/items.json``. A client of a server (``tfrec recommend
--server``) gets titles from the same file (:func:`served_titles`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np
import tensorflow as tf

from tfrec.data.history import HISTORY, padded
from tfrec.errors import UserError
from tfrec.export.explanations import BECAUSE, BECAUSE_SCORE
from tfrec.export.retrieval_export import INFO_ASSET, ITEMS_ASSET
from tfrec.serving.top_k import first_k_of
from tfrec.export.versions import version_path


@dataclasses.dataclass
class Recommendation:
    item_id: str
    score: float
    title: str
    because: str = ""  # the history item this recommendation owes most to ("" when none)
    because_score: float = 0.0  # how much lower it scores without that item
    because_title: str = ""


class SavedModelRecommender:
    """Loads the newest (or a given) version of the retrieval model under ``base``."""

    def __init__(self, base: str = "saved_models", version: int | None = None):
        self.path = version_path(base, "retrieval", version)
        self.version = int(os.path.basename(self.path))
        self._signatures = tf.saved_model.load(self.path).signatures
        self.titles = json_asset(os.path.join(self.path, ITEMS_ASSET))
        self.history_length = int(json_asset(os.path.join(self.path, INFO_ASSET)).get("history_length", 0))

    @property
    def reads_history(self) -> bool:
        return "with_history" in self._signatures

    def raw(self, user_ids, k: int, histories=None) -> dict[str, np.ndarray]:
        """The signature's outputs as arrays; ``histories`` (each user's latest items, newest last) selects
        ``with_history``, else each user's history as exported is used."""
        inputs = {"user_id": tf.constant([str(u) for u in user_ids], tf.string)}
        name = "serving_default"
        if histories is not None:
            if not self.reads_history:
                raise UserError(f"retrieval version {self.version} reads no history (its model was trained "
                                "without model.history), so recent events cannot change its recommendations")
            inputs[HISTORY], name = tf.constant(padded(histories), tf.string), "with_history"
        try:
            out = self._signatures[name](**inputs)
        except tf.errors.InvalidArgumentError as e:
            raise UserError(f"retrieval version {self.version} refused the request: {refusal(e)}") from None
        # The model answers its top max_k per user; the first k are kept (k outside 1..max_k refused).
        return first_k_of({name: value.numpy() for name, value in out.items()}, k)

    def recommend(self, user_ids, k: int = 10, histories=None) -> list[list[Recommendation]]:
        """Each user's top ``k``; fewer when the user has seen almost everything (a seen item scores -inf
        in the export and is never shown). ``histories``: as for :meth:`raw`."""
        return recommendations(self.raw(user_ids, k, histories), self.titles)


def recommendations(outputs: dict, titles: dict) -> list[list[Recommendation]]:
    """A retrieval signature's outputs (arrays, from this process or a server) as titled recommendations."""
    rows = []
    for row, (ids, scores) in enumerate(zip(outputs["item_ids"], outputs["scores"])):
        recs = []
        for col, (item, score) in enumerate(zip(ids, scores)):
            if score == float("-inf"):
                continue
            item = _text(item)
            because = _text(outputs[BECAUSE][row, col]) if BECAUSE in outputs else ""
            recs.append(Recommendation(item, float(score), titles.get(item, ""), because,
                                       float(outputs[BECAUSE_SCORE][row, col]) if because else 0.0,
                                       titles.get(because, "") if because else ""))
        rows.append(recs)
    return rows


def served_titles(titles_path: str | None, base: str, version: int | None, item_ids) -> tuple[dict, str]:
    """``(titles, where they came from)`` for recommendations a server answered with ``version``.

    ``titles_path`` (``--titles``): an export's ``assets.extra/items.json`` or the version folder
    holding it. Without one, the same version's export under ``base`` is used when this machine has it
    and it names every recommended item (a local folder of another catalogue would print wrong titles);
    otherwise there are no titles, and the second element says how to get them.
    """
    if titles_path:
        path = os.path.join(titles_path, ITEMS_ASSET) if os.path.isdir(titles_path) else titles_path
        if not os.path.isfile(path):
            raise UserError(f"--titles {titles_path}: no such file (give an export's {ITEMS_ASSET} or its "
                            "version folder)")
        try:
            titles = json_asset(path)
        except (ValueError, UnicodeDecodeError) as e:
            raise UserError(f"--titles {path}: not a JSON file of item id -> title ({e})") from None
        if not isinstance(titles, dict):
            raise UserError(f"--titles {path}: not a JSON mapping of item id -> title")
        return titles, path
    path = os.path.join(base, "retrieval", str(version), ITEMS_ASSET)
    titles = json_asset(path) if os.path.isfile(path) else {}
    if titles and all(item in titles for item in item_ids):
        return titles, path
    why = "does not name every recommended item" if titles else "does not exist here"
    return {}, f"none ({path} {why}; give --titles with the export's {ITEMS_ASSET})"


def titled(rows: list, titles: dict) -> list:
    """Recommendations (or ranked items) with ``title`` and ``because_title`` looked up in ``titles``."""
    return [[dataclasses.replace(rec, title=titles.get(rec.item_id, ""),
                                 because_title=titles.get(rec.because, "") if rec.because else "")
             for rec in recs] for recs in rows]


def json_asset(path: str) -> dict:
    """An ``assets.extra`` JSON file of the export ({} for exports made before it existed)."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def refusal(error: tf.errors.OpError) -> str:
    """What a SavedModel's check said, without the graph's Assert dump: ``k must be at most 20``."""
    message = error.message or str(error)
    first = re.search(r"\[([^\]]+)\]", message)
    return first.group(1) if first else message.strip().splitlines()[0]
