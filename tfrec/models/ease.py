"""EASE: a closed-form linear item-item model, the strongest simple baseline for implicit feedback.

EASE (Embarrassingly Shallow Autoencoder; Steck, "Embarrassingly Shallow
Autoencoders for Sparse Data", WWW 2019) learns an item-item weight matrix
``B`` that reconstructs each user's binary interaction row from the *other*
items in it:

    min_B ||X - X B||_F^2 + l2 * ||B||_F^2   subject to   diag(B) = 0

with the closed form ``P = (X^T X + l2 * I)^-1``,
``B = I - P * diag(1 / diag(P))`` (column j of ``P`` divided by ``P[j, j]``),
which has a zero diagonal. A user's scores are ``x_u B``: every item is scored
by how strongly it co-occurs with the items the user already has.

One ``num_items x num_items`` inverse (O(items^3) time, O(items^2) memory)
makes it practical up to some tens of thousands of items; the single
hyper-parameter ``l2`` is chosen on the validation split with
:func:`tune_on_validation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tfrec.models.catalogue import catalogue_index, interaction_matrix, validation_set
from tfrec.models.tuning_progress import TuningProgress

__all__ = ["EASE", "DEFAULT_L2_GRID", "tune_on_validation"]

DEFAULT_L2_GRID = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0)
"""Regularisation strengths tried by :func:`tune_on_validation` (MovieLens-sized data)."""

# Above this catalogue size the dense item-item inverse needs > 3 GB in float64.
MAX_ITEMS = 20_000


class EASE:
    """EASE item-item model with the ``fit(frame)`` / ``score(user_ids)`` baseline API.

    Usage::

        model = EASE(item_ids, l2=500).fit(split.train)
        evaluate(model.score, eval_set)   # or evaluate(model, eval_set)

    Args:
      item_ids: the catalogue index to score over (position = column), the
        same ``item_ids`` the evaluation set was built with; unique.
      l2: the ridge strength ``lambda`` > 0 added to the Gram matrix diagonal.

    Attributes (after :meth:`fit`):
      weights: ``[num_items, num_items]`` float32 ``B``, zero diagonal.
      user_ids: index of the users whose training rows :meth:`score` uses.
      unknown_items: training interactions whose item is not in ``item_ids``.
    """

    def __init__(self, item_ids: Sequence[str], l2: float = 500.0):
        self.item_ids = catalogue_index(item_ids)
        if len(self.item_ids) > MAX_ITEMS:
            raise ValueError(
                f"EASE inverts a dense {len(self.item_ids)} x {len(self.item_ids)} matrix; "
                f"catalogues above {MAX_ITEMS:,} items need too much memory"
            )
        if isinstance(l2, bool) or not isinstance(l2, (int, float, np.integer, np.floating)) or not l2 > 0:
            raise ValueError(f"l2 must be a positive number; got {l2!r}")
        self.l2 = float(l2)
        self.weights: np.ndarray | None = None
        self.user_ids: pd.Index | None = None
        self.unknown_items = 0
        self._history: sp.csr_matrix | None = None

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def fit(self, interactions: pd.DataFrame) -> "EASE":
        """Solves for ``B`` on the binary user x item matrix of ``interactions``.

        ``interactions`` needs ``user_id`` and ``item_id`` columns; ratings and
        repeats are ignored. These rows are also the history :meth:`score`
        multiplies with ``B``.
        """
        user_ids, matrix, unknown_items = interaction_matrix(interactions, self.item_ids)
        return self._fit_gram(user_ids, matrix, unknown_items, gram_matrix(matrix))

    def _fit_gram(self, user_ids: pd.Index, matrix: sp.csr_matrix, unknown_items: int, gram: np.ndarray) -> "EASE":
        """:meth:`fit` from the interaction matrix and its Gram matrix ``X^T X``, which a search over
        ``l2`` computes once for every candidate. ``gram`` is left as it was (its diagonal is restored
        exactly rather than the items x items matrix copied)."""
        self.user_ids, self.unknown_items = user_ids, unknown_items
        diagonal = np.diag_indices_from(gram)
        counts = gram[diagonal].copy()
        gram[diagonal] += self.l2
        try:
            precision = np.linalg.inv(gram)
        finally:
            gram[diagonal] = counts
        weights = precision / (-np.diag(precision))  # column j scaled by -1 / P[j, j]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights = weights.astype(np.float32)
        self._history = matrix
        return self

    def score(self, user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """``[len(user_ids), num_items]`` float32 scores ``x_u B``.

        ``x_u`` is the user's binary training row; users not in the training
        frame have an empty history and get all-zero scores.
        """
        if self.weights is None:
            raise ValueError("EASE.score called before fit()")
        ids = np.atleast_1d(np.asarray(user_ids, dtype=object)).astype(str)
        rows = self.user_ids.get_indexer(ids)
        known = rows >= 0
        out = np.zeros((len(ids), self.num_items), dtype=np.float32)
        if known.any():
            out[known] = self._history[rows[known]] @ self.weights
        return out

    __call__ = score


def gram_matrix(matrix: sp.csr_matrix) -> np.ndarray:
    """``X^T X`` of the binary interaction matrix, dense float64: the co-occurrence counts EASE inverts."""
    return (matrix.T @ matrix).toarray().astype(np.float64)


def tune_on_validation(
    item_ids: Sequence[str],
    train: pd.DataFrame,
    val: pd.DataFrame,
    l2_grid: Sequence[float] = DEFAULT_L2_GRID,
    metric: str = "ndcg@10",
    batch_size: int = 512,
    extend: int = 3,
    factor: float = 2.5,
    log=None,
) -> tuple[EASE, dict[float, dict[str, float]]]:
    """Picks ``l2`` by full-ranking ``metric`` on the validation split.

    Each candidate is fitted on ``train`` and evaluated with the project's
    harness (seen = ``train``, target = ``val``); the first best ``l2`` in
    grid order wins ties. A best value on the edge of the grid means the
    optimum may lie outside it, so the search then steps past that edge
    (``l2 * factor`` above the largest, ``l2 / factor`` below the smallest)
    while the metric improves, at most ``extend`` times. With ``log`` (e.g.
    ``print``), each candidate prints a line: ``l2``, its validation score,
    elapsed time and an estimate of the time left.

    Returns:
      ``(model, results)``: the EASE model fitted on ``train`` with the best
      ``l2`` and ``{l2: validation metrics}`` for every candidate.

    Raises:
      ValueError: an empty grid, or ``metric`` not computed by the harness.
    """
    from tfrec.evaluation.full_ranking import evaluate

    grid = [float(v) for v in l2_grid]
    if not grid:
        raise ValueError("l2_grid is empty; give at least one regularisation strength")
    eval_set, k = validation_set(item_ids, train, val, metric)
    if isinstance(extend, bool) or not isinstance(extend, (int, np.integer)) or extend < 0:
        raise ValueError(f"extend must be a non-negative integer; got {extend!r}")
    if not factor > 1:
        raise ValueError(f"factor must be > 1; got {factor!r}")
    results: dict[float, dict[str, float]] = {}
    best, best_value = None, -np.inf
    progress = TuningProgress("EASE", len(grid), metric, log)
    progress.begin(f"choosing l2 among {', '.join(f'{v:g}' for v in grid)} "
                   f"({eval_set.num_users:,} validation users x {eval_set.num_items:,} items)")

    fitted_on = interaction_matrix(train, catalogue_index(item_ids))
    gram = gram_matrix(fitted_on[1])

    def trial(l2: float) -> bool:
        nonlocal best, best_value
        model = EASE(item_ids, l2=l2)._fit_gram(*fitted_on, gram)
        results[l2] = evaluate(model.score, eval_set, ks=(k,), batch_size=batch_size)
        progress.tried(f"l2={l2:g}", results[l2][metric])
        if results[l2][metric] > best_value:
            best, best_value = model, results[l2][metric]
            return True
        return False

    for l2 in grid:
        trial(l2)
    for edge, step in ((max(grid), factor), (min(grid), 1.0 / factor)):
        if best.l2 != edge or not extend:
            continue
        progress.may_add(extend)
        l2 = edge
        for _ in range(extend):
            l2 *= step
            if not trial(l2):
                break
        progress.stop_adding()
    return best, results
