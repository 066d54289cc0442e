"""The strong baselines a model is compared with, fitted on a training split and tuned on its validation split.

``tfrec evaluate --run RUN --baselines ease,ials`` fits them on the run's
own training split (as saved in the run folder) and ranks them with the same
harness as the model; ``benchmarks/quality.py`` fits them the same way.

* ``ease``: EASE (Steck, WWW 2019), ``l2`` chosen on validation
  (``tfrec.models.ease.tune_on_validation``); a dense items x items
  inverse, so catalogues up to ``ease.MAX_ITEMS`` items.
* ``ials``: implicit ALS (Hu, Koren & Volinsky, ICDM 2008), factors,
  regularisation and confidence chosen on validation
  (``tfrec.models.ials.tune_on_validation``).
* ``tfrs-tutorial``: the TFRS basic-retrieval tutorial model (ids only,
  the tutorial's settings, no tuning).

Every baseline is fitted on the training interactions only, like the model;
validation interactions choose the hyper-parameters, and both are excluded
from the test ranking as seen. Tuning prints a line per candidate.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from tfrec.errors import UserError

__all__ = ["BASELINES", "FittedBaseline", "parse_baselines", "fit_baseline"]

BASELINES = {"ease": "EASE", "ials": "iALS", "tfrs-tutorial": "TFRS tutorial"}
"""Name on the command line → name in the tables."""


@dataclasses.dataclass
class FittedBaseline:
    """A baseline fitted on a training split.

    Attributes:
      name: its row in the tables (``EASE``).
      score: ``score(user_ids) -> [n, num_items]`` over the catalogue it was fitted for.
      chosen: the hyper-parameters chosen on validation (empty without tuning).
      validation: every candidate tried with its validation metrics.
      seconds: time to tune and fit.
    """

    name: str
    score: Callable[[np.ndarray], np.ndarray]
    chosen: dict
    validation: list
    seconds: float

    def describe(self) -> str:
        """One line: what was chosen and how long it took."""
        chosen = ", ".join(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
                           for key, value in self.chosen.items())
        return f"{self.name}: {chosen + ' chosen on validation, ' if chosen else ''}fitted in {self.seconds:.0f}s"


def parse_baselines(text: str) -> tuple[str, ...]:
    """``"ease,ials"`` → ``("ease", "ials")``; an unknown or missing name is a ``UserError`` listing the known ones."""
    names = [name.strip().lower() for name in str(text).split(",") if name.strip()]
    unknown = [name for name in names if name not in BASELINES]
    if unknown or not names:
        what = f"unknown baseline(s) {', '.join(repr(n) for n in unknown)}" if unknown else "no baseline named"
        raise UserError(f"--baselines {text!r}: {what}; known: {', '.join(BASELINES)}")
    return tuple(dict.fromkeys(names))


def fit_baseline(name: str, item_ids, train: pd.DataFrame, val: pd.DataFrame, seed: int = 0,
                 metric: str = "ndcg@10", log=print) -> FittedBaseline:
    """Fits baseline ``name`` (a key of :data:`BASELINES`) on ``train`` over ``item_ids``, its
    hyper-parameters chosen by ``metric`` on ``val`` (seen = ``train``), a line per candidate to ``log``."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    start = time.monotonic()
    if name == "ease":
        from tfrec.models import ease

        if len(item_ids) > ease.MAX_ITEMS:
            raise UserError(f"--baselines ease: the catalogue has {len(item_ids):,} items; EASE inverts a dense "
                            f"items x items matrix and is limited to {ease.MAX_ITEMS:,}")
        model, results = ease.tune_on_validation(item_ids, train, val, metric=metric, log=log)
        chosen = {"l2": model.l2}
        validation = [{"l2": l2, metric: metrics[metric]} for l2, metrics in results.items()]
    elif name == "ials":
        from tfrec.models import ials

        model, results = ials.tune_on_validation(item_ids, train, val, metric=metric, seed=seed, log=log)
        chosen = {"factors": model.factors, "regularization": model.regularization, "alpha": model.alpha,
                  "iterations": model.iterations}
        validation = [{**params, metric: metrics[metric]} for params, metrics in results]
    else:
        from tfrec.models.tfrs_tutorial import TFRSTutorialBaseline

        model, chosen, validation = TFRSTutorialBaseline(item_ids, seed=seed).fit(train), {}, []
    return FittedBaseline(BASELINES[name], model.score, chosen, validation, time.monotonic() - start)
