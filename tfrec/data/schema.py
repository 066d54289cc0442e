"""Typed tables every loader produces and every model consumes.

A data set is three pandas tables with fixed column names and dtypes:

* interactions: ``user_id`` (str), ``item_id`` (str), ``timestamp`` (int64,
  Unix seconds), ``rating`` (float32; 1.0 for implicit feedback);
* items: ``item_id`` (str), ``title`` (str), ``text`` (str, may be empty),
  ``image_path`` (str, absolute path or empty when there is no image), plus
  the categorical columns named in ``item_categorical`` (str; several values
  joined by ``|``, e.g. genres ``"Action|Comedy"``);
* users: ``user_id`` (str) plus ``user_categorical`` (str) and
  ``user_numeric`` (float32) columns.

Ids are strings everywhere, so one vocabulary type serves every data set and
unknown ids fall into out-of-vocabulary buckets instead of failing a lookup.
"""

from __future__ import annotations

import dataclasses
import json
import os

import pandas as pd

from tfrec.errors import UserError

MULTI_VALUE_SEPARATOR = "|"

INTERACTION_COLUMNS = {
    "user_id": "str",
    "item_id": "str",
    "timestamp": "int64",
    "rating": "float32",
}
ITEM_BASE_COLUMNS = {"item_id": "str", "title": "str", "text": "str", "image_path": "str"}
USER_BASE_COLUMNS = {"user_id": "str"}


class SchemaError(UserError, ValueError):
    """A table does not have the columns or dtypes its schema requires."""


@dataclasses.dataclass
class RecDataset:
    """Interactions, item content and user attributes of one data set.

    Attributes:
      name: short name used in run folders and reports.
      interactions: see module docstring.
      items: one row per item; every interacted item has a row.
      users: one row per user; every interacting user has a row.
      item_categorical: names of item columns holding ``|``-joined categories.
      user_categorical: names of user columns holding one category each.
      user_numeric: names of float user columns.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    item_categorical: tuple[str, ...] = ()
    user_categorical: tuple[str, ...] = ()
    user_numeric: tuple[str, ...] = ()

    def __post_init__(self):
        self.item_categorical = tuple(self.item_categorical)
        self.user_categorical = tuple(self.user_categorical)
        self.user_numeric = tuple(self.user_numeric)
        self.interactions = conform(self.interactions, INTERACTION_COLUMNS, "interactions")
        self.items = conform(
            self.items,
            {**ITEM_BASE_COLUMNS, **{c: "str" for c in self.item_categorical}},
            "items",
        )
        self.users = conform(
            self.users,
            {
                **USER_BASE_COLUMNS,
                **{c: "str" for c in self.user_categorical},
                **{c: "float32" for c in self.user_numeric},
            },
            "users",
        )
        _check_unique(self.items, "item_id", "items")
        _check_unique(self.users, "user_id", "users")
        _check_covered(self.interactions, "item_id", self.items, "items")
        _check_covered(self.interactions, "user_id", self.users, "users")

    def summary(self) -> str:
        """One line describing the size of the data set."""
        return (
            f"{self.name}: {len(self.interactions):,} interactions, "
            f"{self.interactions.user_id.nunique():,} users, {len(self.items):,} items"
        )

    def save(self, folder: str) -> None:
        """Writes the tables as Parquet plus ``schema.json``, atomically."""
        from tfrec.atomic import atomic_directory

        with atomic_directory(folder) as tmp:
            self.interactions.to_parquet(os.path.join(tmp, "interactions.parquet"))
            self.items.to_parquet(os.path.join(tmp, "items.parquet"))
            self.users.to_parquet(os.path.join(tmp, "users.parquet"))
            with open(os.path.join(tmp, "schema.json"), "w") as f:
                json.dump(
                    {
                        "name": self.name,
                        "item_categorical": list(self.item_categorical),
                        "user_categorical": list(self.user_categorical),
                        "user_numeric": list(self.user_numeric),
                    },
                    f,
                    indent=2,
                )

    @classmethod
    def load(cls, folder: str) -> "RecDataset":
        """Reads a folder written by :meth:`save`."""
        with open(os.path.join(folder, "schema.json")) as f:
            meta = json.load(f)
        return cls(
            name=meta["name"],
            interactions=pd.read_parquet(os.path.join(folder, "interactions.parquet")),
            items=pd.read_parquet(os.path.join(folder, "items.parquet")),
            users=pd.read_parquet(os.path.join(folder, "users.parquet")),
            item_categorical=meta["item_categorical"],
            user_categorical=meta["user_categorical"],
            user_numeric=meta["user_numeric"],
        )


def conform(frame: pd.DataFrame, columns: dict[str, str], table: str) -> pd.DataFrame:
    """Returns ``frame`` with exactly the schema's columns in schema dtypes.

    Raises:
      SchemaError: naming the table and the missing columns.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{table} table is missing column(s) {missing}; it has {list(frame.columns)}"
        )
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for name, dtype in columns.items():
        values = frame[name].to_numpy()
        if dtype == "str":
            out[name] = pd.Series(values, dtype=object).fillna("").astype(str).to_numpy(object)
        else:
            out[name] = values.astype(dtype)
    return out


def split_multi_value(value: str) -> list[str]:
    """Splits a ``|``-joined categorical cell into its non-empty values."""
    return [v for v in value.split(MULTI_VALUE_SEPARATOR) if v]


def _check_unique(frame: pd.DataFrame, column: str, table: str) -> None:
    duplicated = frame[column][frame[column].duplicated()]
    if len(duplicated):
        raise SchemaError(
            f"{table} table has {len(duplicated)} duplicated {column} value(s), "
            f"e.g. {list(duplicated.head(3))}"
        )


def _check_covered(
    interactions: pd.DataFrame, column: str, table: pd.DataFrame, table_name: str
) -> None:
    values = pd.Index(interactions[column].unique())
    unknown = values[~values.isin(table[column])]
    if len(unknown):
        raise SchemaError(
            f"{len(unknown)} {column} value(s) in interactions have no row in the "
            f"{table_name} table, e.g. {list(unknown[:3])}"
        )
