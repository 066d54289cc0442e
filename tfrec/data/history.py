"""Each interaction's recent history: the items the user interacted with just before it.

A sequential query tower reads the last ``length`` items of a user's
timeline, newest last, left-padded with empty strings. Histories are cut
strictly before the interaction they describe, so a training example never
sees its own target, and a test interaction sees exactly the train and
validation interactions that precede it: no leakage under the temporal split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PAD = ""
HISTORY = "history"  # the feature name: string [B, L]


def chronological(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` ordered by user, then time; ties keep their input order."""
    order = np.lexsort((np.arange(len(frame)), frame.timestamp.to_numpy(), frame.user_id.to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def positions_from_end(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """``frame`` in :func:`chronological` order and each row's position in its user's
    timeline counted from the end (0 = the user's latest)."""
    ordered = chronological(frame)
    return ordered, ordered.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()


def preceding_items(timeline: pd.DataFrame, length: int) -> np.ndarray:
    """``[len(timeline), length]`` item ids before each row of a chronological timeline.

    Row ``i`` holds the up to ``length`` items of the same user that come
    before row ``i``, oldest first, newest in the last column.
    """
    users = timeline.user_id.to_numpy()
    items = timeline.item_id.to_numpy(dtype=object)
    n = len(timeline)
    if length < 1:
        raise ValueError(f"history length must be at least 1, got {length}")
    starts = np.zeros(n, np.int64)
    if n:
        new_user = np.r_[True, users[1:] != users[:-1]]
        starts = np.maximum.accumulate(np.where(new_user, np.arange(n), 0))
    positions = np.arange(n)[:, None] - length + np.arange(length)[None, :]
    valid = positions >= starts[:, None]
    out = np.full((n, length), PAD, dtype=object)
    out[valid] = items[positions[valid]]
    return out


def history_for(rows: pd.DataFrame, context: pd.DataFrame, length: int) -> np.ndarray:
    """Histories of ``rows`` built from ``context`` (interactions before them) and ``rows`` themselves.

    For validation rows, ``context`` is the training split; for test rows, train
    plus validation. Returns ``[len(rows), length]`` aligned with ``rows``.
    """
    marked = pd.concat([context.assign(_row=-1), rows.assign(_row=np.arange(len(rows)))], ignore_index=True)
    timeline = chronological(marked)
    histories = preceding_items(timeline, length)
    target = timeline._row.to_numpy() >= 0
    out = np.empty((len(rows), length), dtype=object)
    out[timeline._row.to_numpy()[target]] = histories[target]
    return out


def latest_items(interactions: pd.DataFrame, length: int) -> dict[str, np.ndarray]:
    """Each user's last ``length`` items (newest last, left-padded): their history *now*."""
    timeline = chronological(interactions)
    users = timeline.user_id.to_numpy()
    items = timeline.item_id.to_numpy(dtype=object)
    before = preceding_items(timeline, length)
    last_rows = np.flatnonzero(np.r_[users[1:] != users[:-1], True]) if len(timeline) else []
    # What comes before a user's last row, shifted by one to make room for that row itself.
    return {users[i]: np.append(before[i][1:], items[i]) for i in last_rows}


def history_rows(histories: dict, user_ids, length: int) -> np.ndarray:
    """``[len(user_ids), length]`` str: each user's items from ``histories`` (user id → items,
    newest last), the latest ``length`` of them; unknown users get an empty history."""
    empty = np.full(length, PAD, dtype=object)
    rows = [np.asarray(histories.get(u, empty), dtype=object)[-length:] for u in user_ids]
    return np.stack(rows).astype(str).astype(object) if rows else np.zeros((0, length), object)


def padded(histories) -> np.ndarray:
    """Histories (lists of item ids, newest last) as one ``[B, L]`` array, left-padded with ""."""
    histories = [[str(i) for i in h] for h in histories]
    width = max([len(h) for h in histories] + [1])
    return np.array([[PAD] * (width - len(h)) + h for h in histories], dtype=object).reshape(len(histories), width)
