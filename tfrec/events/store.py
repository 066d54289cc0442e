"""The event store contract, and opening one from a spec (a SQLite path or a ``redis://`` URL).

Every store keeps, per user, the latest ``keep`` events by time (older ones are
dropped as new ones arrive: the bound that keeps a store small however long it
runs); ties in time keep their arrival order. Items the model does not know
are kept like any other and ignored by the model, as unknown history items are.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Iterable, Iterator

from tfrec.errors import ConfigError

DEFAULT_KEEP = 200  # events kept per user: more than any history a model reads


@dataclasses.dataclass(frozen=True)
class Event:
    user_id: str
    item_id: str
    timestamp: int  # Unix seconds


class EventStore(abc.ABC):
    """Per-user recent events, safe to write and read from several processes at once."""

    keep: int = DEFAULT_KEEP

    def add(self, user_id: str, item_id: str, timestamp: int | None = None) -> None:
        """Records one event (now, when ``timestamp`` is None)."""
        self.add_many([Event(str(user_id), str(item_id), int(time.time() if timestamp is None else timestamp))])

    @abc.abstractmethod
    def add_many(self, events: Iterable[Event]) -> int:
        """Records events (each user's kept to the latest ``keep``); returns how many were added."""

    @abc.abstractmethod
    def latest(self, user_ids: Iterable[str], length: int) -> dict[str, list[str]]:
        """Each user's latest ``length`` item ids, oldest first, newest last (users without events: [])."""

    @abc.abstractmethod
    def events(self) -> Iterator[Event]:
        """Every event the store keeps (for a warm start), oldest first per user."""

    @abc.abstractmethod
    def count(self) -> int:
        """Events added since the store was created (dropped ones included)."""

    def close(self) -> None:
        """Releases connections."""

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *_) -> None:
        self.close()


def open_store(spec: str, keep: int = DEFAULT_KEEP) -> EventStore:
    """The store ``spec`` names: ``redis://HOST:PORT[/DB]`` (a Redis server) or a SQLite file path."""
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"an event store is a SQLite file path or a redis:// URL, got {spec!r}")
    if keep < 1:
        raise ConfigError(f"an event store keeps at least 1 event per user, got keep={keep}")
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from tfrec.events.redis_store import RedisStore

        return RedisStore(spec, keep)
    from tfrec.events.sqlite_store import SQLiteStore

    return SQLiteStore(spec, keep)
