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


def build_vocabularies(
    train: pd.DataFrame, dataset: RecDataset, min_count: int = 1
) -> Vocabularies:
    """Vocabularies of ids and categorical features seen in ``train``.

    Categorical values are counted over the users and items that occur in
    ``train`` (multi-valued item cells split on ``|``), one count per
    interaction, so rare values of rarely used items do not crowd the table.
    """
    values = {
        "user_id": ordered_values(collections.Counter(train.user_id), min_count),
        "item_id": ordered_values(collections.Counter(train.item_id), min_count),
    }
    users = dataset.users.set_index("user_id").loc[train.user_id]
    for column in dataset.user_categorical:
        values[f"user_{column}"] = ordered_values(collections.Counter(users[column]))
    items = dataset.items.set_index("item_id").loc[train.item_id]
    for column in dataset.item_categorical:
        counts = collections.Counter()
        for cell, n in collections.Counter(items[column]).items():
            for value in split_multi_value(cell):
                counts[value] += n
        values[f"item_{column}"] = ordered_values(counts)
    words = collections.Counter()
    for title, n in collections.Counter(items["title"]).items():
        for word in title_words(title):
            words[word] += n
    values["item_title"] = ordered_values(words)
    return Vocabularies(values)
