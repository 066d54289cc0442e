"""Implicit ALS: weighted matrix factorisation of implicit feedback, solved by alternating least squares.

iALS (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit Feedback
Datasets", ICDM 2008) treats every (user, item) cell as an observation: the
preference ``p_ui`` is 1 where the user interacted and 0 elsewhere, weighted
by the confidence ``c_ui = 1 + alpha * r_ui`` (``r_ui`` = 1 for an
interaction here, so observed cells weigh ``1 + alpha`` and the rest 1). It
minimises

    sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + reg * (sum_u |x_u|^2 + sum_i |y_i|^2)

by alternating exact ridge regressions for users and items. The paper's
trick keeps each user solve cheap although every cell counts:

    x_u = (Y^T Y + Y^T (C_u - I) Y + reg I)^-1  Y^T C_u p_u

where ``Y^T Y`` is shared by all users and ``C_u - I`` is non-zero only on
the user's own items. The per-user systems are solved either exactly
(batched ``numpy.linalg.solve``) or, by default, with a few conjugate-gradient
steps warm-started from the previous factors (Takacs, Pilaszy & Tikk,
"Applications of the conjugate gradient method for implicit feedback
collaborative filtering", RecSys 2011), vectorised over all users at once.
Both never increase the loss, which :meth:`IALS.loss` computes exactly.

Scores are ``x_u . y_i``; users absent from the training frame get zeros.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from tfrec.models.catalogue import catalogue_index, interaction_matrix, validation_set
from tfrec.models.tuning_progress import TuningProgress

__all__ = ["IALS", "DEFAULT_GRID", "tune_on_validation"]

DEFAULT_GRID = tuple(
    {"factors": factors, "regularization": regularization, "alpha": alpha}
    for factors, regularization in ((128, 1.0), (128, 10.0), (64, 100.0), (64, 500.0))
    for alpha in (2.0, 10.0)
)
"""Parameter sets tried by :func:`tune_on_validation`: light regularisation with more factors,
heavy regularisation (close to popularity) with fewer, each at a low and a high ``alpha``."""

SOLVERS = ("cg", "exact")

# Elements of the largest temporary (gathered factor rows, outer products).
_WORKSPACE = 1 << 23


class IALS:
    """Implicit-feedback ALS with the ``fit(frame)`` / ``score(user_ids)`` baseline API.

    Usage::

        model = IALS(item_ids, factors=64, regularization=10, alpha=5).fit(split.train)
        evaluate(model.score, eval_set)

    Args:
      item_ids: the catalogue index to score over (position = column); unique.
      factors: latent dimension.
      regularization: ``reg`` >= 0, the L2 penalty on user and item factors.
      alpha: confidence boost > 0 of observed cells (``c = 1 + alpha``).
      iterations: alternating (users, then items) sweeps.
      seed: seeds the factor initialisation (normal, std ``init_scale``).
      solver: ``"cg"`` (conjugate gradient, ``cg_steps`` per sweep, warm
        started) or ``"exact"`` (one dense solve per user/item).
      cg_steps: conjugate-gradient steps per sweep when ``solver="cg"``.
      init_scale: standard deviation of the initial factors.

    Attributes (after :meth:`fit`):
      user_factors: ``[num_train_users, factors]`` float64.
      item_factors: ``[num_items, factors]`` float64 (items never seen in
        training end at zero).
      user_ids: index of the users with a row in ``user_factors``.
      losses: the objective after each iteration.
      unknown_items: training interactions whose item is not in ``item_ids``.
    """

    def __init__(
        self,
        item_ids: Sequence[str],
        factors: int = 64,
        regularization: float = 10.0,
        alpha: float = 5.0,
        iterations: int = 15,
        seed: int = 0,
        solver: str = "cg",
        cg_steps: int = 3,
        init_scale: float = 0.01,
    ):
        self.item_ids = catalogue_index(item_ids)
        self.factors = _positive_int(factors, "factors")
        self.iterations = _positive_int(iterations, "iterations")
        self.cg_steps = _positive_int(cg_steps, "cg_steps")
        self.regularization = _number(regularization, "regularization", allow_zero=True)
        self.alpha = _number(alpha, "alpha")
        self.init_scale = _number(init_scale, "init_scale")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer; got {seed!r}")
        self.seed = int(seed)
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}; got {solver!r}")
        self.solver = solver
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None
        self.user_ids: pd.Index | None = None
        self.losses: list[float] = []
        self.unknown_items = 0
        self._matrix: sp.csr_matrix | None = None

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def fit(self, interactions: pd.DataFrame, callback=None) -> "IALS":
        """Alternates user and item solves on the binary matrix of ``interactions``.

        Args:
          interactions: needs ``user_id`` and ``item_id``; repeats count once.
          callback: optional ``callback(iteration, model)`` after each sweep.
        """
        self.user_ids, matrix, self.unknown_items = interaction_matrix(interactions, self.item_ids)
        matrix = matrix.astype(np.float64)
        self._matrix = matrix
        rng = np.random.default_rng(self.seed)
        users = rng.normal(0.0, self.init_scale, (matrix.shape[0], self.factors))
        items = rng.normal(0.0, self.init_scale, (matrix.shape[1], self.factors))
        transposed = matrix.T.tocsr()
        self.losses = []
        for iteration in range(self.iterations):
            users = self._solve(matrix, items, users)
            items = self._solve(transposed, users, items)
            self.user_factors, self.item_factors = users, items
            self.losses.append(self.loss())
            if callback is not None:
                callback(iteration, self)
        return self

    def loss(self) -> float:
        """The iALS objective at the current factors (all cells, exact).

        ``sum_all (x.y)^2`` is ``trace((X^T X)(Y^T Y))``; observed cells add
        ``(1 + alpha)(1 - s)^2 - s^2`` each.
        """
        if self.user_factors is None:
            raise ValueError("IALS.loss called before fit()")
        x, y, m = self.user_factors, self.item_factors, self._matrix
        dense_part = float(np.sum((x.T @ x) * (y.T @ y)))
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        s = _gathered_dots(x, y, rows, m.indices)
        observed = float(np.sum((1.0 + self.alpha) * (1.0 - s) ** 2 - s**2))
        penalty = self.regularization * float(np.sum(x * x) + np.sum(y * y))
        return dense_part + observed + penalty

    def score(self, user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """``[len(user_ids), num_items]`` float32 dot products; unknown users get zeros."""
        if self.user_factors is None:
            raise ValueError("IALS.score called before fit()")
        ids = np.atleast_1d(np.asarray(user_ids, dtype=object)).astype(str)
        rows = self.user_ids.get_indexer(ids)
        known = rows >= 0
        out = np.zeros((len(ids), self.num_items), dtype=np.float32)
        if known.any():
            out[known] = self.user_factors[rows[known]] @ self.item_factors.T
        return out

    __call__ = score

    def _solve(self, matrix: sp.csr_matrix, fixed: np.ndarray, current: np.ndarray) -> np.ndarray:
        """New factors for the rows of ``matrix`` given the other side's ``fixed`` factors."""
        gram = fixed.T @ fixed + self.regularization * np.eye(self.factors)
        rhs = (1.0 + self.alpha) * (matrix @ fixed)
        if self.solver == "exact":
            return self._solve_exact(matrix, fixed, gram, rhs)
        return self._solve_cg(matrix, fixed, gram, rhs, current)

    def _solve_exact(self, matrix, fixed, gram, rhs) -> np.ndarray:
        """``A_u = gram + alpha * Y_u^T Y_u`` (``Y_u``: the row's items), solved in row chunks."""
        f = self.factors
        out = np.empty((matrix.shape[0], f))
        indptr, indices = matrix.indptr, matrix.indices
        rows_per_chunk = max(1, _WORKSPACE // (f * f))
        for start in range(0, matrix.shape[0], rows_per_chunk):
            stop = min(start + rows_per_chunk, matrix.shape[0])
            systems = np.broadcast_to(gram, (stop - start, f, f)).copy()
            for j, row in enumerate(range(start, stop)):
                vectors = fixed[indices[indptr[row] : indptr[row + 1]]]
                if len(vectors):
                    systems[j] += self.alpha * (vectors.T @ vectors)
            out[start:stop] = np.linalg.solve(systems, rhs[start:stop, :, None])[..., 0]
        return out

    def _solve_cg(self, matrix, fixed, gram, rhs, current) -> np.ndarray:
        """Batched conjugate gradient on every row's system, warm-started at ``current``."""
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        cols = matrix.indices

        def apply(p: np.ndarray) -> np.ndarray:
            # A_u p_u = gram p_u + alpha * sum_{i in I_u} y_i (y_i . p_u), for all u at once.
            dots = _gathered_dots(p, fixed, rows, cols)
            weighted = sp.csr_matrix((self.alpha * dots, cols, matrix.indptr), shape=matrix.shape)
            return p @ gram + weighted @ fixed

        x = current.copy()
        r = rhs - apply(x)
        p = r.copy()
        rs_old = np.einsum("ij,ij->i", r, r)
        for _ in range(self.cg_steps):
            ap = apply(p)
            curvature = np.einsum("ij,ij->i", p, ap)
            active = (rs_old > 1e-20) & (curvature > 0)
            if not active.any():
                break
            step = np.where(active, rs_old / np.where(active, curvature, 1.0), 0.0)
            x += step[:, None] * p
            r -= step[:, None] * ap
            rs_new = np.einsum("ij,ij->i", r, r)
            beta = np.where(active, rs_new / np.where(active, rs_old, 1.0), 0.0)
            p = r + beta[:, None] * p
            rs_old = rs_new
        return x


def _gathered_dots(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``[nnz]`` dot products ``a[rows[k]] . b[cols[k]]``, in bounded-memory chunks."""
    out = np.empty(len(rows))
    chunk = max(1, _WORKSPACE // max(1, a.shape[1]))
    for lo in range(0, len(rows), chunk):
        hi = lo + chunk
        out[lo:hi] = np.einsum("ij,ij->i", a[rows[lo:hi]], b[cols[lo:hi]])
    return out


def tune_on_validation(
    item_ids: Sequence[str],
    train: pd.DataFrame,
    val: pd.DataFrame,
    grid: Iterable[Mapping] = DEFAULT_GRID,
    metric: str = "ndcg@10",
    seed: int = 0,
    batch_size: int = 512,
    log=None,
    **fixed,
) -> tuple[IALS, list[tuple[dict, dict[str, float]]]]:
    """Picks iALS parameters by full-ranking ``metric`` on the validation split.

    Each parameter set in ``grid`` (keyword arguments of :class:`IALS`,
    combined with ``fixed`` and ``seed``) is fitted on ``train`` and evaluated
    with seen = ``train``, target = ``val``; the first best wins ties. With
    ``log`` (e.g. ``print``), each parameter set prints a line: the values,
    the validation score, elapsed time and an estimate of the time left.

    Returns:
      ``(model, results)``: the best model (fitted on ``train``) and
      ``[(parameters, validation metrics)]`` in grid order.
    """
    from tfrec.evaluation.full_ranking import evaluate

    grid = [dict(params) for params in grid]
    if not grid:
        raise ValueError("grid is empty; give at least one parameter set")
    eval_set, k = validation_set(item_ids, train, val, metric)
    results = []
    best, best_value = None, -np.inf
    progress = TuningProgress("iALS", len(grid), metric, log)
    progress.begin(f"choosing {'/'.join(dict.fromkeys(key for params in grid for key in params))} "
                   f"({eval_set.num_users:,} validation users x {eval_set.num_items:,} items)")
    for params in grid:
        model = IALS(item_ids, seed=seed, **{**fixed, **params}).fit(train)
        metrics = evaluate(model.score, eval_set, ks=(k,), batch_size=batch_size)
        results.append((params, metrics))
        progress.tried(" ".join(f"{key}={value}" for key, value in params.items()), metrics[metric])
        if metrics[metric] > best_value:
            best, best_value = model, metrics[metric]
    return best, results


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _number(value, name: str, allow_zero: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return float(value)
