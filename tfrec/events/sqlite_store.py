"""The embedded event store: one SQLite file in WAL mode, safe with several processes.

WAL lets readers go on while a writer commits; every write is one
transaction (insert, then trim that user to the latest ``keep`` events), with
a busy timeout so concurrent writers take turns instead of failing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator

from tfrec.errors import StorageError
from tfrec.events.store import Event, EventStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, timestamp, seq);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES ('added', 0);
"""
_BUSY_MS = 30_000


class SQLiteStore(EventStore):
    """Events in the SQLite file ``path`` (made on first use)."""

    def __init__(self, path: str, keep: int):
        self.path, self.keep = os.path.abspath(path), keep
        self._local = threading.local()  # one connection per thread: sqlite3 connections are not shared
        try:
            if os.path.dirname(self.path):
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._connection().executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise StorageError(f"event store {self.path}: {e}") from None

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            connection.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
            self._local.connection = connection
        return connection

    def add_many(self, events: Iterable[Event]) -> int:
        rows = [(e.user_id, e.item_id, int(e.timestamp)) for e in events]
        if not rows:
            return 0
        connection = self._connection()
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany("INSERT INTO events (user_id, item_id, timestamp) VALUES (?, ?, ?)", rows)
            for user in {row[0] for row in rows}:
                connection.execute(
                    "DELETE FROM events WHERE user_id = ? AND seq NOT IN (SELECT seq FROM events WHERE user_id = ? "
                    "ORDER BY timestamp DESC, seq DESC LIMIT ?)", (user, user, self.keep))
            connection.execute("UPDATE counter SET value = value + ? WHERE name = 'added'", (len(rows),))
            connection.execute("COMMIT")
        except sqlite3.Error as e:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise StorageError(f"event store {self.path}: {e}") from None
        return len(rows)

    def latest(self, user_ids: Iterable[str], length: int) -> dict[str, list[str]]:
        out = {}
        connection = self._connection()
        for user in user_ids:
            rows = connection.execute("SELECT item_id FROM events WHERE user_id = ? ORDER BY timestamp DESC, seq DESC "
                                      "LIMIT ?", (str(user), int(length))).fetchall()
            out[str(user)] = [row[0] for row in reversed(rows)]
        return out

    def events(self) -> Iterator[Event]:
        cursor = self._connection().execute(
            "SELECT user_id, item_id, timestamp FROM events ORDER BY user_id, timestamp, seq")
        for user, item, timestamp in cursor:
            yield Event(user, item, timestamp)

    def count(self) -> int:
        return int(self._connection().execute("SELECT value FROM counter WHERE name = 'added'").fetchone()[0])

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
