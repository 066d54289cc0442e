"""What ``tfrec data check`` prints: the data a config reads, as the model will see it.

Besides the loader's :class:`~tfrec.data.validation.ValidationReport` (rows read,
kept, skipped, filled in), a user needs to know that each column landed where
they meant it to: which file and column each field came from and how many items
have a title, a text and a readable image; the time range and ratings; the
split the run will train, validate and test on; and which of these inputs the
configured model reads. Problems that would make a run useless without being
errors (no user with enough interactions to test, content read from a column
that is empty everywhere) are printed as ``warning:`` lines.
"""

from __future__ import annotations

import pandas as pd

from tfrec.data.schema import MULTI_VALUE_SEPARATOR, RecDataset
from tfrec.data.splits import split_as_configured

MIN_HISTORY = 3  # interactions a user needs to be validated and tested (temporal split)


def check_report(config, dataset: RecDataset, report=None) -> str:
    """The report of ``dataset`` loaded for ``config`` (a retrieval or ranking config)."""
    lines = [dataset.summary()]
    warnings = []
    if config.data.source == "tabular":
        lines += _files(config.data.tabular, dataset, warnings)
    lines += _interactions(dataset.interactions)
    if report is not None:
        lines.append(report.format())
    lines += _split(config, dataset, warnings)
    lines.append("model reads: " + ", ".join(_model_inputs(config, dataset, warnings)))
    lines += [f"warning: {w}" for w in warnings]
    return "\n".join(lines)


def _files(tabular, dataset: RecDataset, warnings: list) -> list[str]:
    m, items, users = tabular.mapping, dataset.items, dataset.users
    rating = f"rating <- {m.rating}" if m.rating else "rating: none (every interaction counts 1.0)"
    lines = [(f"interactions {tabular.interactions}: user_id <- {m.user_id}, item_id <- {m.item_id}, "
             f"timestamp <- {m.timestamp}, {rating}")]
    if tabular.items is None:
        lines.append("items: no file (items are the ids in interactions; no title, text, image or category)")
    else:
        parts = []
        for field, column in (("title", m.title), ("text", m.text), ("image_path", m.image_path)):
            if not column:
                parts.append(f"{field}: not mapped")
                continue
            have = int((items[field] != "").sum())
            what = "readable image" if field == "image_path" else field
            parts.append(f"{field} <- {column} ({have:,} of {len(items):,} items have a {what})")
            if not have:
                warnings.append(f"{tabular.items}: column {column!r} ({field}) is empty for every item")
        for column in m.item_categorical:
            parts.append(f"categorical {column} ({_distinct(items[column], multi=True):,} values)")
        lines.append(f"items {tabular.items}: item_id <- {m.item_id}, " + ", ".join(parts))
    if tabular.users is None:
        lines.append("users: no file (users are the ids in interactions, without attributes)")
    else:
        parts = [f"categorical {c} ({_distinct(users[c]):,} values)" for c in m.user_categorical]
        parts += [f"numeric {c} ({users[c].min():g} to {users[c].max():g})" for c in m.user_numeric]
        lines.append(f"users {tabular.users}: user_id <- {m.user_id}"
                     + "".join(f", {p}" for p in parts))
    return lines


def _interactions(events: pd.DataFrame) -> list[str]:
    if not len(events):
        return ["interactions: none"]
    times = pd.to_datetime(events.timestamp, unit="s", utc=True)
    per_user = events.groupby("user_id").size()
    ratings = events.rating
    rating = ("all 1.0 (implicit)" if (ratings == 1).all()
              else f"{ratings.min():g} to {ratings.max():g}, mean {ratings.mean():.2f}")
    return [(f"time: {times.min():%Y-%m-%d %H:%M} to {times.max():%Y-%m-%d %H:%M} UTC; ratings: {rating}; "
            f"per user: {per_user.min():,} to {per_user.max():,} interactions (median {per_user.median():g})")]


def _split(config, dataset: RecDataset, warnings: list) -> list[str]:
    split, cold = split_as_configured(dataset.interactions, config.data, config.train.seed)
    sizes = split.sizes()
    line = (f"split ({config.data.split}): {sizes['train']:,} train, {sizes['val']:,} validation, "
            f"{sizes['test']:,} test interactions")
    if cold:
        line += f"; {len(cold['cold_items']):,} cold items with {len(cold['cold_test']):,} test interactions"
    if config.data.temporal:
        counts = dataset.interactions.groupby("user_id").size()
        few = int((counts < MIN_HISTORY).sum())
        if few:
            line += (f"; {few:,} user(s) with fewer than {MIN_HISTORY} interactions stay in train "
                     "(never validated or tested)")
    if not sizes["test"]:
        warnings.append("the split leaves no test interactions: nothing to evaluate"
                        + (f" (every user has fewer than {MIN_HISTORY} interactions)" if config.data.temporal else ""))
    elif not sizes["val"]:
        warnings.append("the split leaves no validation interactions: retrieval training stops early on them "
                        "(with split: random, set data.val_fraction)")
    return [line]


def _model_inputs(config, dataset: RecDataset, warnings: list) -> list[str]:
    model = config.model
    inputs = ["user and item ids"]
    if model.use_user_features and (dataset.user_categorical or dataset.user_numeric):
        inputs.append("user attributes " + ", ".join((*dataset.user_categorical, *dataset.user_numeric)))
    item_features = [*dataset.item_categorical, *(["title words"] if (dataset.items.title != "").any() else [])]
    if model.use_item_features and item_features:
        inputs.append("item " + ", ".join(item_features))
    content = model.content
    if not content.enabled:
        if (dataset.items.text != "").any() or (dataset.items.image_path != "").any():
            inputs.append("no text or images (model.content.mode: none; set cached to read them)")
        return inputs
    for name, settings, column, encoder in (("text", content.text, "text", "preset"),
                                            ("images", content.image, "image_path", "variant")):
        if settings is None:
            continue
        have = int((dataset.items[column] != "").sum())
        inputs.append(f"{name} ({getattr(settings, encoder)}, {have:,} of {len(dataset.items):,} items)")
        if not have:
            warnings.append(f"model.content.{'text' if name == 'text' else 'image'} is set but no item has "
                            f"{'a text' if name == 'text' else 'a readable image'}")
    if model.history.enabled:
        inputs.append(f"the latest {model.history.length} items of each user ({model.history.encoder})")
    return inputs


def _distinct(values: pd.Series, multi: bool = False) -> int:
    strings = values.astype(str)
    if multi:
        strings = strings.str.split(MULTI_VALUE_SEPARATOR, regex=False).explode()
    return len(pd.unique(strings[strings != ""]))
