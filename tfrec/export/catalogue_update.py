"""Adds new items to the served catalogue without retraining (``tfrec index add``).

New items are embedded by the trained candidate tower from their content
(text, image, title, categories; their ids are unknown to the model) and a new
retrieval version is exported whose index holds the old catalogue plus them.
The added items are remembered in the run (``added_items.parquet``), so later
additions and re-exports keep them.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from tfrec.atomic import atomic_directory
from tfrec.data.schema import SchemaError, conform
from tfrec.data.tabular import ColumnMapping, load_items
from tfrec.data.trained_data import load_content, save_content
from tfrec.export.retrieval_export import export_retrieval
from tfrec.run_folder import RETRIEVAL, RunFolder
from tfrec.training.experiment import Experiment


def added_items(run: RunFolder) -> tuple[pd.DataFrame, dict] | None:
    """``(items, content)`` of every item added to the run so far (None if none were)."""
    folder = run.added_items_dir
    if not os.path.exists(os.path.join(folder, "items.parquet")):
        return None
    items = conform(pd.read_parquet(os.path.join(folder, "items.parquet")), _item_columns(folder), "added items")
    vectors, images = load_content(folder)
    content = {"vectors": vectors} if vectors is not None else {"images": images} if images is not None else {}
    return items, content


def with_added_items(exp: Experiment, run: RunFolder, log=print) -> Experiment:
    """``exp`` with every item added to the run so far (as they were embedded when added)."""
    added = added_items(run)
    return exp.with_new_items(*added, log=log) if added is not None else exp


def add_items(run_dir, items_path: str, base: str, skip_bad_rows: bool = False, max_k: int | None = None,
              log=print) -> str:
    """Embeds the items of ``items_path`` and exports a retrieval version that includes them.

    ``items_path`` is a CSV or Parquet file with columns ``item_id``, ``title``,
    ``text``, ``image_path`` (relative to the file's folder or absolute) and
    the data set's categorical item columns. ``max_k`` defaults to the run's
    ``export.max_k``. The run is held exclusively meanwhile, so two additions
    at once never lose one another's items. Returns the new version's path.
    """
    with RunFolder(run_dir).updating(RETRIEVAL, log=log) as run:
        exp = Experiment.from_run(run, log=log)
        mapping = ColumnMapping(title="title", text="text", image_path="image_path",
                                item_categorical=exp.dataset.item_categorical)
        items, report = load_items(items_path, mapping, skip_bad_rows=skip_bad_rows)
        if not len(items):
            raise SchemaError(f"{items_path}: no items to add")
        if report.total_skipped or report.notes:
            log(report.format())
        model = exp.load_model(run)
        previous = added_items(run)
        exp = with_added_items(exp, run, log)
        content = exp.new_items_content(items, log=log)
        exp = exp.with_new_items(items, content, log=log)
        path = export_retrieval(exp, model, base, max_k=max_k or exp.config.export.max_k,
                                exclude_seen=exp.config.export.exclude_seen, log=log)
        if previous is not None:
            items = pd.concat([previous[0], items], ignore_index=True)
            content = {name: _concat(previous[1][name], value) for name, value in content.items()}
        with atomic_directory(run.added_items_dir) as tmp:
            items.to_parquet(os.path.join(tmp, "items.parquet"))
            save_content(tmp, items.item_id, content.get("vectors"), content.get("images"))
        log(f"added {len(items):,} item(s) so far; catalogue now {len(exp.item_ids):,} items; exported {path}")
        return path


def _concat(old, new):
    if isinstance(new, dict):
        return {name: np.concatenate([old[name], new[name]]) for name in new}
    return list(old) + list(new)


def _item_columns(folder: str) -> dict:
    columns = pd.read_parquet(os.path.join(folder, "items.parquet")).columns
    return {c: "str" for c in columns}
