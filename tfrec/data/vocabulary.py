"""Vocabularies of ids and categorical values, built from training data only.

Building them from the training split is what keeps validation and test
honest: a user or item first seen in test is out of vocabulary, exactly as
it would be in serving, and falls into an OOV bucket instead of a lookup
error. Values are ordered by descending frequency, then by value, so the
same training data always gives the same vocabulary.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re

import pandas as pd

from tfrec.data.schema import RecDataset, split_multi_value

# Titles are tokenised the same way in Python (here) and in the graph
# (``tfrec.models.feature_encoders.title_tokens``): lower-case, keep [a-z0-9].
TITLE_TOKEN_PATTERN = r"[^a-z0-9 ]"


def title_words(title: str) -> list[str]:
    return re.sub(TITLE_TOKEN_PATTERN, " ", title.lower()).split()


@dataclasses.dataclass
class Vocabularies:
    """Ordered value lists per feature name (``user_id``, ``item_id``, ``item_genres`` ...)."""

    values: dict[str, list[str]]

    def __getitem__(self, feature: str) -> list[str]:
        return self.values[feature]

    def sizes(self) -> dict[str, int]:
        return {name: len(v) for name, v in self.values.items()}

    def empty(self) -> list[str]:
        """Features with no value in the training data: the towers leave them out."""
        return [name for name, v in self.values.items() if not v]

    def to_json(self, path: str) -> None:
        from tfrec.atomic import atomic_file

        with atomic_file(path) as f:
            json.dump(self.values, f)

    @classmethod
    def from_json(cls, path: str) -> "Vocabularies":
        with open(path) as f:
            return cls(json.load(f))


def ordered_values(counts: collections.Counter, min_count: int = 1) -> list[str]:
    """Values with at least ``min_count`` occurrences, most frequent first."""
    return [v for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count and v != ""]


def build_vocabularies(train: pd.DataFrame, dataset: RecDataset, min_count: int = 1, max_size: int = 0
                       ) -> Vocabularies:
    """Vocabularies of ids and categorical features seen in ``train`` (see :func:`vocabularies_from_counts`)."""
    return vocabularies_from_counts(train.user_id.value_counts(), train.item_id.value_counts(), dataset,
                                    min_count, max_size)


def vocabularies_from_counts(user_counts: pd.Series, item_counts: pd.Series, dataset: RecDataset,
                             min_count: int = 1, max_size: int = 0) -> Vocabularies:
    """Vocabularies from training interactions counted per user and per item (id → count).

    What a data set too large for memory needs: one streaming pass gives the
    counts. Ids with fewer than ``min_count`` interactions, and beyond the
    ``max_size`` most frequent (0: no cap), are out of vocabulary. Categorical
    values are counted over the users and items that occur in training
    (multi-valued item cells split on ``|``), one count per interaction, so
    rare values of rarely used items do not crowd the table.
    """
    def ids(counts: pd.Series) -> list[str]:
        kept = ordered_values(collections.Counter(dict(counts.items())), min_count)
        return kept[:max_size] if max_size else kept

    values = {"user_id": ids(user_counts), "item_id": ids(item_counts)}
    users = dataset.users.set_index("user_id").reindex(user_counts.index)
    for column in dataset.user_categorical:
        values[f"user_{column}"] = ordered_values(_weighted(users[column], user_counts))
    items = dataset.items.set_index("item_id").reindex(item_counts.index)
    for column in dataset.item_categorical:
        counts = collections.Counter()
        for cell, n in _weighted(items[column], item_counts).items():
            for value in split_multi_value(cell):
                counts[value] += n
        values[f"item_{column}"] = ordered_values(counts)
    words = collections.Counter()
    for title, n in _weighted(items["title"], item_counts).items():
        for word in title_words(title):
            words[word] += n
    values["item_title"] = ordered_values(words)
    return Vocabularies(values)


def _weighted(cells: pd.Series, counts: pd.Series) -> collections.Counter:
    """Each distinct cell value with the summed ``counts`` of the rows holding it."""
    frame = pd.DataFrame({"cell": cells.fillna("").astype(str).to_numpy(), "n": counts.to_numpy()})
    return collections.Counter(dict(frame.groupby("cell", sort=False).n.sum().items()))
