"""Event stores (SQLite and Redis, one contract): the latest items per user, bounded, and nothing lost."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from tfrec.errors import ConfigError, StorageError
from tfrec.events import Event, open_store


def test_latest_items_come_oldest_first_by_time_then_arrival(store_spec):
    with open_store(store_spec, keep=4) as store:
        store.add_many([Event("u1", "a", 100), Event("u1", "b", 300), Event("u1", "c", 200), Event("u2", "x", 50)])
        store.add("u1", "d", 300)  # same time as b: arrival order breaks the tie
        assert store.latest(["u1", "u2", "nobody"], 3) == {"u1": ["c", "b", "d"], "u2": ["x"], "nobody": []}
        store.add("u1", "e", 400)
        # Four kept: the oldest, a, is gone.
        assert store.latest(["u1"], 10) == {"u1": ["c", "b", "d", "e"]}
        assert store.count() == 6
        assert [(e.user_id, e.item_id) for e in store.events()] == [
            ("u1", "c"), ("u1", "b"), ("u1", "d"), ("u1", "e"), ("u2", "x")]


def test_a_store_is_shared_by_its_openers(store_spec):
    with open_store(store_spec) as writer, open_store(store_spec) as reader:
        writer.add("u9", "i1", 10)
        assert reader.latest(["u9"], 5) == {"u9": ["i1"]}


def test_bad_specs_are_clear():
    with pytest.raises(ConfigError, match="keeps at least 1 event"):
        open_store("x.sqlite", keep=0)
    with pytest.raises(StorageError, match="event store redis://127.0.0.1:1/0"):
        open_store("redis://127.0.0.1:1/0")


def _write(spec: str, writer: int, seconds: float, queue) -> None:
    store = open_store(spec, keep=1_000_000)
    written, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        store.add_many([Event(f"w{writer}-u{written % 7}", f"i{written}", 1_000 + written)])
        written += 1
    queue.put(("written", writer, written))


def _read(spec: str, reader: int, seconds: float, queue) -> None:
    store = open_store(spec, keep=1_000_000)
    reads, errors, deadline = 0, 0, time.monotonic() + seconds
    users = [f"w{w}-u{u}" for w in range(8) for u in range(7)]
    while time.monotonic() < deadline:
        try:
            latest = store.latest(users, 20)
            # Within a user, items arrive in order: a read never sees them out of order.
            for items in latest.values():
                numbers = [int(i[1:]) for i in items]
                assert numbers == sorted(numbers)
            reads += 1
        except Exception:  # noqa: BLE001  (each counted; the test wants none)
            errors += 1
    queue.put(("read", reader, reads, errors))


def test_eight_writers_and_eight_readers_for_ten_seconds_lose_no_event(store_spec):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    open_store(store_spec, keep=1_000_000).close()  # the schema, before the processes race for it
    processes = [context.Process(target=_write, args=(store_spec, w, 10.0, queue)) for w in range(8)]
    processes += [context.Process(target=_read, args=(store_spec, r, 10.0, queue)) for r in range(8)]
    for p in processes:
        p.start()
    results = [queue.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    written = {r[1]: r[2] for r in results if r[0] == "written"}
    reads = [r for r in results if r[0] == "read"]
    assert len(written) == 8 and all(n > 0 for n in written.values())
    assert sum(r[3] for r in reads) == 0 and all(r[2] > 0 for r in reads)
    with open_store(store_spec, keep=1_000_000) as store:
        assert store.count() == sum(written.values())
        kept = {}
        for event in store.events():
            kept.setdefault(event.user_id.split("-")[0], set()).add(event.item_id)
        for writer, n in written.items():
            assert kept[f"w{writer}"] == {f"i{i}" for i in range(n)}  # every event of every writer, once
