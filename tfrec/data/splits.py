"""Train / validation / test splits of an interaction table.

Temporal leave-last-out (the default) holds out each user's latest
interaction for test and the one before it for validation, which mirrors
serving: the model predicts what a user does next from what they did before.
Random splitting is the protocol of the TFRS tutorials (rating prediction).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tfrec.data.history import positions_from_end


@dataclasses.dataclass
class Split:
    """Three disjoint interaction tables whose union is the input table."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    method: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def temporal_leave_last_out(interactions: pd.DataFrame, min_history: int = 3) -> Split:
    """Holds out each user's last interaction (test) and second last (val).

    Interactions are ordered by timestamp per user; ties are broken by the
    row's position in the input, so the split is deterministic. Users with
    fewer than ``min_history`` interactions keep everything in train: with
    nothing left to learn from they would only be evaluated as cold users.
    For every user, each test timestamp is >= every val and train timestamp.
    """
    ordered, from_end = positions_from_end(interactions)
    counts = ordered.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    eligible = counts >= min_history
    is_test = eligible & (from_end == 0)
    is_val = eligible & (from_end == 1)
    is_train = ~(is_test | is_val)
    return Split(
        train=ordered[is_train].reset_index(drop=True),
        val=ordered[is_val].reset_index(drop=True),
        test=ordered[is_test].reset_index(drop=True),
        method="temporal_leave_last_out",
    )


def random_split(
    interactions: pd.DataFrame,
    test_fraction: float = 0.2,
    val_fraction: float = 0.0,
    seed: int = 42,
) -> Split:
    """Shuffles interactions with ``seed`` and cuts test and validation shares off."""
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 - test_fraction:
        raise ValueError(
            f"need 0 < test_fraction < 1 and 0 <= val_fraction < 1 - test_fraction, "
            f"got test_fraction={test_fraction}, val_fraction={val_fraction}"
        )
    frame = interactions.reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(frame))
    n_test = int(round(len(frame) * test_fraction))
    n_val = int(round(len(frame) * val_fraction))
    return Split(
        train=frame.iloc[order[n_test + n_val :]].reset_index(drop=True),
        val=frame.iloc[order[n_test : n_test + n_val]].reset_index(drop=True),
        test=frame.iloc[order[:n_test]].reset_index(drop=True),
        method="random",
    )


def drop_latest(interactions: pd.DataFrame, n: int) -> pd.DataFrame:
    """The data as it stood ``n`` interactions per user earlier: each user's latest ``n`` are removed.

    A model trained on it has never seen those ``n`` interactions, so what it
    retrieves for them looks like what the full model retrieves for the test
    interaction: leak-free training lists for a ranker. Ordering as in
    :func:`temporal_leave_last_out`.
    """
    if n < 0:
        raise ValueError(f"the number of latest interactions to drop must be >= 0, got {n}")
    if n == 0:
        return interactions.reset_index(drop=True)
    ordered, from_end = positions_from_end(interactions)
    return ordered[from_end >= n].reset_index(drop=True)


def make_split(interactions: pd.DataFrame, method: str, seed: int = 42, **kwargs) -> Split:
    """Dispatches on the split name used in configs."""
    if method in ("temporal", "temporal_leave_last_out"):
        return temporal_leave_last_out(interactions, **kwargs)
    if method == "random":
        return random_split(interactions, seed=seed, **kwargs)
    raise ValueError(f"unknown split method {method!r}; use 'temporal' or 'random'")


def split_as_configured(interactions: pd.DataFrame, data, seed: int) -> tuple[Split, dict]:
    """The split a run of the ``data`` config section (a ``DataConfig``) trains on: cold items held out,
    each user's latest ``drop_latest`` removed, then split. Returns ``(split, cold)``; ``cold`` holds
    ``cold_test`` and ``cold_items`` when ``data.cold_item_fraction`` is set, else nothing."""
    cold = {}
    if data.cold_item_fraction:
        interactions, cold_test, cold_items = hold_out_items(interactions, data.cold_item_fraction,
                                                             seed=data.cold_item_seed)
        cold = {"cold_test": cold_test, "cold_items": cold_items}
    interactions = drop_latest(interactions, data.drop_latest)
    kwargs = {"test_fraction": data.test_fraction, "val_fraction": data.val_fraction} if data.split == "random" else {}
    return make_split(interactions, data.split, seed=seed, **kwargs), cold


def hold_out_items(interactions: pd.DataFrame, fraction: float, seed: int = 42):
    """Removes a random ``fraction`` of the interacted items from the data entirely.

    Returns ``(warm_interactions, cold_interactions, cold_item_ids)``: the
    model never sees a cold item in training, validation or vocabularies, so
    ranking the cold items for their users measures recommendation from
    content alone (cold start).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"cold item fraction must be in (0, 1), got {fraction}")
    items = np.sort(interactions.item_id.unique())
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(items, size=max(1, int(round(len(items) * fraction))), replace=False))
    is_cold = interactions.item_id.isin(cold).to_numpy()
    return (interactions[~is_cold].reset_index(drop=True), interactions[is_cold].reset_index(drop=True), cold)
