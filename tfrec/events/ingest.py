"""Events from files and streams: CSV or JSON lines with ``user_id``, ``item_id`` and an optional ``timestamp``.

A file is read whole and checked before anything is written, so a bad row
(named by file, line and field) leaves the store as it was. A stream (stdin)
is written as it arrives, in small batches, so events are visible while the
producer still runs; a bad line stops it with the same message, after the
lines before it were added. ``skip_bad_rows`` skips and counts bad rows instead.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import select
import sys
import time
from collections.abc import Iterator

from tfrec.errors import DataError, MissingFileError
from tfrec.events.store import Event, EventStore

BATCH = 1000  # events per write: big enough to be fast, small enough to be prompt


def parse_event(values: dict | DataError, where: str, now: int | None = None) -> Event:
    """One event from a row's fields; ``where`` names the row in errors (``events.csv: line 3``)."""
    if isinstance(values, DataError):
        raise values
    fields = {}
    for name in ("user_id", "item_id"):
        value = values.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise DataError(f"{where}: field {name} is missing or empty")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise DataError(f"{where}: field {name} must be a string, got {value!r}")
        fields[name] = str(value).strip()
    stamp = values.get("timestamp")
    if stamp is None or stamp == "":
        stamp = int(time.time()) if now is None else now
    else:
        try:
            number = float(stamp)
        except (TypeError, ValueError):
            raise DataError(f"{where}: field timestamp must be Unix seconds, got {stamp!r}") from None
        if number != number or number < 0 or number != int(number) or number > 2**62:
            raise DataError(f"{where}: field timestamp must be whole, non-negative Unix seconds, got {stamp!r}")
        stamp = int(number)
    return Event(fields["user_id"], fields["item_id"], stamp)


def _rows(lines: Iterator[str], name: str) -> Iterator[tuple[str, dict]]:
    """``(where, fields)`` of each row: JSON lines when the first row starts with ``{``, else CSV with a header."""
    first = None
    number = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            first = line
            break
    if first is None:
        return
    if first.lstrip().startswith("{"):
        for offset, line in enumerate(itertools.chain([first], lines)):
            if not line.strip():
                continue
            where = f"{name}: line {number + offset}"
            try:
                values = json.loads(line)
            except json.JSONDecodeError as e:
                values = DataError(f"{where}: not a JSON object ({e.msg})")
            if not isinstance(values, dict | DataError):
                values = DataError(f"{where}: not a JSON object")
            yield where, values
        return
    header = next(csv.reader([first]))
    missing = [c for c in ("user_id", "item_id") if c not in header]
    if missing:
        raise DataError(f"{name}: line {number}: the header lacks column(s) {missing}; it has {header} "
                        "(a CSV needs user_id, item_id and optionally timestamp; or give JSON lines)")
    for offset, row in enumerate(csv.reader(lines), start=1):
        if not row:
            continue
        where = f"{name}: line {number + offset}"
        if len(row) != len(header):
            yield where, DataError(f"{where}: {len(row)} fields where the header has {len(header)}")
        else:
            yield where, dict(zip(header, row))


def read_events(path: str, skip_bad_rows: bool = False) -> tuple[list[Event], int]:
    """Every event of the file ``path`` and the number of bad rows skipped."""
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such events file")
    events, skipped = [], 0
    now = int(time.time())
    with open(path, encoding="utf-8", errors="strict", newline="") as f:
        try:
            for where, values in _rows(iter(f), path):
                try:
                    events.append(parse_event(values, where, now))
                except DataError:
                    if not skip_bad_rows:
                        raise
                    skipped += 1
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    return events, skipped


def add_file(store: EventStore, path: str, skip_bad_rows: bool = False) -> tuple[int, int]:
    """Adds the events of ``path`` (all checked first); returns ``(added, skipped)``."""
    events, skipped = read_events(path, skip_bad_rows)
    added = 0
    for start in range(0, len(events), BATCH * 10):
        added += store.add_many(events[start:start + BATCH * 10])
    return added, skipped


def add_stream(store: EventStore, stream: io.TextIOBase | None = None, name: str = "stdin",
               skip_bad_rows: bool = False) -> tuple[int, int]:
    """Adds events as lines arrive on ``stream`` (stdin), a batch whenever input pauses or ``BATCH`` are waiting."""
    stream = stream if stream is not None else sys.stdin
    pending, added, skipped = [], 0, 0

    def flush():
        nonlocal added, pending
        if pending:
            added += store.add_many(pending)
            pending = []

    def lines():
        for line in stream:
            yield line
            if len(pending) >= BATCH or not _more_waiting(stream):
                flush()

    for where, values in _rows(lines(), name):
        try:
            pending.append(parse_event(values, where))
        except DataError:
            if not skip_bad_rows:
                flush()
                raise
            skipped += 1
    flush()
    return added, skipped


def _more_waiting(stream) -> bool:
    """Whether more input can be read at once (so a batch may grow before it is written)."""
    try:
        ready, _, _ = select.select([stream], [], [], 0)
    except (ValueError, OSError, TypeError, io.UnsupportedOperation):
        return True  # not a pipe or terminal (an in-memory stream): write when the batch is full
    return bool(ready)
