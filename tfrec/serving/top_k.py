"""Cutting the retrieval model's answer to the ``k`` items a caller asked for.

The retrieval signatures take no ``k``: every input has a batch dimension, so
TF Serving can batch them, and each row comes back with the model's top
``max_k`` items, best first. A caller who wants ``k`` keeps the first ``k``
columns; ``k`` outside ``1..max_k`` is refused with INVALID_ARGUMENT naming the
limit, the same whether the model runs in this process or behind a server.
"""

from __future__ import annotations

import grpc
import numpy as np

from tfrec.serving.errors import ServingError


def first_k(item_ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` columns of ``item_ids`` and ``scores`` ([B, max_k] each)."""
    width = int(np.shape(scores)[1]) if np.ndim(scores) == 2 else 0
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= width:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"k must be between 1 and {width} (the model's max_k), got {k!r}")
    return item_ids[:, :k], scores[:, :k]


def first_k_of(outputs: dict, k: int) -> dict:
    """Every ``[B, max_k]`` output of a retrieval signature (``item_ids``, ``scores``, ``because``,
    ``because_score``) cut to its first ``k`` columns; other outputs as they are."""
    first_k(outputs["item_ids"], outputs["scores"], k)  # checks k
    width = np.shape(outputs["scores"])[1]
    return {name: value[:, :k] if np.ndim(value) == 2 and np.shape(value)[1] == width else value
            for name, value in outputs.items()}
