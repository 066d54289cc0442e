"""A user's own interactions (and optional item/user tables) as a :class:`RecDataset`.

Files are CSV (``.tsv``: tab-separated) with a header line, or Parquet. A
:class:`ColumnMapping` says which of the user's columns hold what. CSV files
get the same line-aware checks as the built-in loaders; Parquet problems name
the 1-based row instead of a line.

Rules:

* ``rating`` is optional: without it every interaction is implicit feedback
  with rating 1.0. Ratings must be finite and not negative.
* Timestamps are integer Unix seconds or ISO-8601 strings (no zone = UTC).
* Exact duplicate interactions (same user, item and timestamp) are dropped
  and counted; a repeated item or user id keeps its first row.
* Relative image paths are resolved against the items file's folder; a path
  whose file does not exist, is empty or is not an image becomes "" (no
  image) and is counted.
* Items or users that appear in interactions but not in their table get a
  row with empty content (``""`` categories, ``0.0`` numbers), counted in
  the report, so no interaction is lost. Without an items (users) file, the
  table holds just the ids found in interactions.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from tfrec.config.data import ColumnMapping
from tfrec.data.schema import RecDataset
from tfrec.data.validation import (
    BadRowError,
    RowChecker,
    ValidationReport,
    drop_duplicate_ids,
    drop_unusable_images,
    interactions_frame,
    read_table_file,
)
from tfrec.errors import ConfigError


def load_tabular(
    interactions,
    items=None,
    users=None,
    mapping: ColumnMapping | dict | None = None,
    skip_bad_rows: bool = False,
    name: str = "custom",
) -> tuple[RecDataset, ValidationReport]:
    """Loads and validates the user's files; see the module docstring for the rules.

    Args:
      interactions: CSV or Parquet file with user id, item id, timestamp and
        optionally rating columns.
      items: optional file with one row per item.
      users: optional file with one row per user.
      mapping: where each schema field is in the files (a dict is accepted;
        None: the default :class:`ColumnMapping`).
      skip_bad_rows: drop and count bad rows instead of raising.
      name: the data set's name.

    Raises:
      BadRowError: a bad row (when not skipping), a missing column, a file problem.
      ConfigError: item (user) columns are mapped but no items (users) file is given.
    """
    if mapping is None:
        mapping = ColumnMapping()
    elif isinstance(mapping, dict):
        from tfrec.config.typed import from_dict

        mapping = from_dict(ColumnMapping, mapping, "data.tabular.mapping")
    if items is None and mapping.item_columns:
        raise ConfigError(f"item columns {list(mapping.item_columns)} are mapped but no items file is given")
    if users is None and mapping.user_columns:
        raise ConfigError(f"user columns {list(mapping.user_columns)} are mapped but no users file is given")
    report = ValidationReport()
    events = _load_interactions(interactions, mapping, skip_bad_rows, report)
    item_table = (_load_items(items, mapping, skip_bad_rows, report) if items is not None
                  else _empty_items(mapping))
    user_table = (_load_users(users, mapping, skip_bad_rows, report) if users is not None
                  else _empty_users(mapping))
    report.rows_kept += len(events) + len(item_table) + len(user_table)

    item_table, report.items_added = _add_missing(item_table, "item_id", events.item_id,
                                                  {"title": "", "text": "", "image_path": "",
                                                   **{c: "" for c in mapping.item_categorical}})
    user_table, report.users_added = _add_missing(user_table, "user_id", events.user_id,
                                                  {**{c: "" for c in mapping.user_categorical},
                                                   **{c: 0.0 for c in mapping.user_numeric}})
    if items is not None and report.items_added:
        report.notes.append(f"{report.items_added} item id(s) in interactions have no row in "
                            f"{items}; added with empty content")
    if users is not None and report.users_added:
        report.notes.append(f"{report.users_added} user id(s) in interactions have no row in "
                            f"{users}; added with empty attributes")
    report.items_missing_text += int((item_table.text == "").sum())
    report.items_missing_image += int((item_table.image_path == "").sum())
    dataset = RecDataset(
        name=name,
        interactions=events,
        items=item_table,
        users=user_table,
        item_categorical=mapping.item_categorical,
        user_categorical=mapping.user_categorical,
        user_numeric=mapping.user_numeric,
    )
    return dataset, report


def _load_interactions(path, mapping: ColumnMapping, skip_bad_rows, report) -> pd.DataFrame:
    required = [mapping.user_id, mapping.item_id, mapping.timestamp]
    if mapping.rating:
        required.append(mapping.rating)
    table = _read_mapped(path, required, mapping, skip_bad_rows, report)
    check = RowChecker(table, report, skip_bad_rows)
    user = check.parse_id(mapping.user_id)
    item = check.parse_id(mapping.item_id)
    timestamp = check.parse_timestamp(mapping.timestamp)
    if mapping.rating:
        rating = check.parse_float(mapping.rating, min_value=0)
    else:
        rating = np.ones(len(table), dtype=np.float64)
    return interactions_frame(table, check.keep, user, item, timestamp, rating, report)


def load_items(path, mapping: ColumnMapping, skip_bad_rows: bool = False):
    """Reads an item table alone (e.g. new items to index): ``(items frame, ValidationReport)``."""
    report = ValidationReport()
    return _load_items(path, mapping, skip_bad_rows, report), report


def _load_items(path, mapping: ColumnMapping, skip_bad_rows, report) -> pd.DataFrame:
    columns = [mapping.item_id, *mapping.item_columns]
    table = _read_mapped(path, columns, mapping, skip_bad_rows, report)
    check = RowChecker(table, report, skip_bad_rows)
    item_id = check.parse_id(mapping.item_id)

    def text_of(column):
        return check.parse_str(column) if column else np.full(len(table), "", dtype=object)

    values = {
        "item_id": item_id,
        "title": text_of(mapping.title),
        "text": text_of(mapping.text),
        "image_path": _resolve_images(text_of(mapping.image_path), path, report),
        **{c: check.parse_str(c) for c in mapping.item_categorical},
    }
    keep = check.keep
    frame = pd.DataFrame({k: v[keep] for k, v in values.items()})
    return drop_duplicate_ids(frame, "item_id", report, str(path))


def _resolve_images(paths: np.ndarray, items_file, report) -> np.ndarray:
    """Absolute image paths; relative ones are taken from the items file's folder.

    Paths whose file does not exist, is empty or is not an image become "" so
    the item counts as having no image rather than failing later in the image
    pipeline.
    """
    base = os.path.dirname(os.path.abspath(str(items_file)))
    resolved = np.full(len(paths), "", dtype=object)
    missing = 0
    for i, p in enumerate(paths):
        if not p:
            continue
        full = os.path.normpath(p if os.path.isabs(p) else os.path.join(base, p))
        if os.path.exists(full):
            resolved[i] = full
        else:
            missing += 1
    if missing:
        report.notes.append(f"{items_file}: {missing} image path(s) name no existing file; "
                            "those items have no image")
    return drop_unusable_images(resolved, str(items_file), report)


def _load_users(path, mapping: ColumnMapping, skip_bad_rows, report) -> pd.DataFrame:
    columns = [mapping.user_id, *mapping.user_columns]
    table = _read_mapped(path, columns, mapping, skip_bad_rows, report)
    check = RowChecker(table, report, skip_bad_rows)
    values = {"user_id": check.parse_id(mapping.user_id)}
    values.update({c: check.parse_str(c) for c in mapping.user_categorical})
    values.update({c: check.parse_float(c).astype(np.float32) for c in mapping.user_numeric})
    keep = check.keep
    frame = pd.DataFrame({k: v[keep] for k, v in values.items()})
    return drop_duplicate_ids(frame, "user_id", report, str(path))


def _read_mapped(path, columns, mapping: ColumnMapping, skip_bad_rows, report):
    """``read_table_file``, with a missing column's error naming the mapping key that asked for it."""
    try:
        return read_table_file(path, columns, skip_bad_rows=skip_bad_rows, report=report)
    except BadRowError as e:
        if e.column is None or e.column not in columns or "missing" not in e.reason:
            raise
        keys = [f"data.tabular.mapping.{f.name}" for f in dataclasses.fields(mapping)
                if e.column == getattr(mapping, f.name) or e.column in (getattr(mapping, f.name) or ())]
        hint = f"; {' and '.join(keys)} name{'s' if len(keys) == 1 else ''} it" if keys else ""
        if e.column in (mapping.user_id, mapping.item_id):
            hint += " (the id column has the same name in the interactions file and the items/users file)"
        raise BadRowError(e.path, e.line, e.column, None, e.reason + hint, unit=e.unit) from None


def _empty_items(mapping: ColumnMapping) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object)
                         for c in ("item_id", "title", "text", "image_path", *mapping.item_categorical)})


def _empty_users(mapping: ColumnMapping) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=object)
                          for c in ("user_id", *mapping.user_categorical)})
    for c in mapping.user_numeric:
        frame[c] = pd.Series([], dtype=np.float32)
    return frame


def _add_missing(table: pd.DataFrame, id_column: str, referenced: pd.Series,
                 fill: dict) -> tuple[pd.DataFrame, int]:
    """Appends a row with ``fill`` values for each referenced id absent from ``table``."""
    ids = pd.unique(referenced.to_numpy(dtype=object))
    missing = ids[~pd.Series(ids).isin(set(table[id_column])).to_numpy()]
    if not len(missing):
        return table, 0
    extra = pd.DataFrame({id_column: missing, **{c: [v] * len(missing) for c, v in fill.items()}})
    extra = extra[list(table.columns)]
    return pd.concat([table, extra], ignore_index=True), len(missing)
