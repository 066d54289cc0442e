"""The catalogue a baseline scores over, its user x item interaction matrix, and the
validation set its parameters are chosen on.

Every baseline (popularity, EASE, iALS, the TFRS tutorial model) scores the
same ``item_ids`` the evaluation set was built with, position = column; this
is the one place that checks that index and builds the binary matrix from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp


def catalogue_index(item_ids: Sequence[str]) -> pd.Index:
    """``item_ids`` as a string index; empty or duplicated ids are a ValueError."""
    index = pd.Index(np.asarray(list(item_ids), dtype=object).astype(str).astype(object))
    if len(index) == 0:
        raise ValueError("item_ids is empty; there is no catalogue to score")
    if not index.is_unique:
        dup = index[index.duplicated()].unique()
        raise ValueError(f"item_ids must be unique; got duplicates, e.g. {list(dup[:3])}")
    return index


def interaction_matrix(
    interactions: pd.DataFrame, item_index: pd.Index
) -> tuple[pd.Index, sp.csr_matrix, int]:
    """Binary ``users x items`` CSR of ``interactions`` over the catalogue ``item_index``.

    Repeated (user, item) pairs count once; rows whose item is not in the
    catalogue are dropped. Users are ordered by first appearance.

    Returns:
      ``(user_index, matrix, unknown_items)``: the row index (str user ids),
      the float32 binary matrix and the number of dropped rows.

    Raises:
      ValueError: ``interactions`` is not a DataFrame with ``user_id`` and
        ``item_id`` columns, or has no interaction with a catalogue item.
    """
    if not isinstance(interactions, pd.DataFrame):
        raise ValueError(f"interactions must be a DataFrame; got {type(interactions).__name__}")
    missing = [c for c in ("user_id", "item_id") if c not in interactions.columns]
    if missing:
        raise ValueError(
            f"interactions is missing column(s) {missing}; it has {list(interactions.columns)}"
        )
    users = interactions["user_id"].astype(str).to_numpy(dtype=object)
    cols = item_index.get_indexer(interactions["item_id"].astype(str).to_numpy(dtype=object))
    known = cols >= 0
    if not known.any():
        raise ValueError(
            f"none of the {len(interactions)} interactions has an item in the catalogue "
            f"of {len(item_index)} items"
        )
    user_index = pd.Index(pd.unique(users[known]), dtype=object)
    rows = user_index.get_indexer(users[known])
    matrix = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (rows, cols[known])),
        shape=(len(user_index), len(item_index)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    matrix.sort_indices()
    return user_index, matrix, int((~known).sum())


def validation_set(item_ids: Sequence[str], train: pd.DataFrame, val: pd.DataFrame, metric: str):
    """``(evaluation set, k)`` for choosing a baseline's parameters by ``metric`` (e.g.
    ``ndcg@10``): the training users ranked over ``item_ids``, seen = ``train``, target = ``val``.

    Raises:
      ValueError: ``metric`` is not one the harness computes.
    """
    from tfrec.evaluation.full_ranking import EvaluationSet

    name, _, k = str(metric).partition("@")
    if name not in ("recall", "ndcg", "hit_rate") or not k.isdigit() or int(k) < 1:
        raise ValueError(
            f"metric must look like 'ndcg@10', 'recall@20' or 'hit_rate@10'; got {metric!r}"
        )
    eval_set = EvaluationSet.from_frames(
        seen=train, target=val, user_ids=train["user_id"].astype(str).unique(), item_ids=item_ids
    )
    return eval_set, int(k)
