"""Recommendations from the users' latest events: the store's items where a user has some, the export's otherwise."""

from __future__ import annotations

from collections.abc import Callable

from tfrec.events.store import EventStore

DEFAULT_HISTORY_LENGTH = 50  # items sent when the model's own length is not known (a server): it reads its latest


def with_latest_events(recommend: Callable, user_ids, store: EventStore, length: int) -> list:
    """``recommend(users, histories=...)`` for the users with events in ``store`` (their latest ``length``
    items, newest last) and ``recommend(users)`` for the others, whose exported history then speaks;
    the answers come back in ``user_ids`` order. At most two calls."""
    user_ids = [str(u) for u in user_ids]
    latest = store.latest(user_ids, max(int(length), 1))
    fresh = [u for u in user_ids if latest[u]]
    stale = [u for u in user_ids if not latest[u]]
    answers = {}
    if fresh:
        answers.update(zip(fresh, recommend(fresh, histories=[latest[u] for u in fresh])))
    if stale:
        answers.update(zip(stale, recommend(stale)))
    return [answers[u] for u in user_ids]
