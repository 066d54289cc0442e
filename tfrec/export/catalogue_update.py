"""Adds new items to the served catalogue without retraining (``tfrec index add``).

New items are embedded by the trained candidate tower from their content
(text, image, title, categories; their ids are unknown to the model) and a new
retrieval version is exported whose index holds the old catalogue plus them.
The added items are remembered in ``RUN/added_items.parquet``, so later
additions and re-exports keep them.
"""

from __future__ import annotations

import os

import pandas as pd

from tfrec.atomic import atomic_file
from tfrec.data.schema import SchemaError
from tfrec.data.tabular import ColumnMapping, load_items
from tfrec.export.retrieval_export import export_retrieval
from tfrec.training.experiment import Experiment

ADDED_ITEMS_FILE = "added_items.parquet"


def added_items(run_dir: str) -> pd.DataFrame | None:
    path = os.path.join(run_dir, ADDED_ITEMS_FILE)
    return pd.read_parquet(path) if os.path.exists(path) else None


def with_added_items(exp: Experiment, run_dir: str, log=print) -> Experiment:
    """``exp`` with every item added to the run so far."""
    items = added_items(run_dir)
    return exp.with_new_items(items, log=log) if items is not None else exp


def add_items(run_dir: str, items_path: str, base: str, skip_bad_rows: bool = False, max_k: int | None = None,
              log=print) -> str:
    """Embeds the items of ``items_path`` and exports a retrieval version that includes them.

    ``items_path`` is a CSV or Parquet file with columns ``item_id``, ``title``,
    ``text``, ``image_path`` (relative to the file's folder or absolute) and
    the data set's categorical item columns. ``max_k`` defaults to the run's
    ``export.max_k``. Returns the new version's path.
    """
    exp = with_added_items(Experiment.from_run(run_dir, log=log), run_dir, log)
    model = exp.load_model(run_dir)
    mapping = ColumnMapping(title="title", text="text", image_path="image_path",
                            item_categorical=exp.dataset.item_categorical)
    items, report = load_items(items_path, mapping, skip_bad_rows=skip_bad_rows)
    if not len(items):
        raise SchemaError(f"{items_path}: no items to add")
    if report.total_skipped or report.notes:
        log(report.format())
    exp = exp.with_new_items(items, log=log)
    path = export_retrieval(exp, model, base, max_k=max_k or exp.config.export.max_k,
                            exclude_seen=exp.config.export.exclude_seen)
    previous = added_items(run_dir)
    combined = items if previous is None else pd.concat([previous, items], ignore_index=True)
    with atomic_file(os.path.join(run_dir, ADDED_ITEMS_FILE), "wb") as f:
        combined.to_parquet(f)
    log(f"added {len(items):,} item(s); catalogue now {len(exp.item_ids):,} items; exported {path}")
    return path
