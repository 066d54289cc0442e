"""The production event store: a Redis server, a sorted set per user.

Each user's events are members of ``tfrec:events:<user>`` scored by time
(``<sequence>\\t<item>``, the sequence from one server-side counter, so equal
times keep their arrival order and no event overwrites another). A write is one
``MULTI`` transaction: add, trim to the latest ``keep``, count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tfrec.errors import StorageError
from tfrec.events.store import Event, EventStore

PREFIX = "tfrec:events:"
COUNTER = "tfrec:events-added"
SEQUENCE = "tfrec:events-sequence"


class RedisStore(EventStore):
    """Events on the Redis server at ``url`` (``redis://HOST:PORT/DB``)."""

    def __init__(self, url: str, keep: int):
        import redis

        self.url, self.keep = url, keep
        self._errors = (redis.RedisError, OSError)
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
            self._redis.ping()
        except self._errors as e:
            raise StorageError(f"event store {url}: {e}") from None

    def add_many(self, events: Iterable[Event]) -> int:
        events = list(events)
        if not events:
            return 0
        try:
            last = self._redis.incrby(SEQUENCE, len(events))
            pipe = self._redis.pipeline(transaction=True)
            for number, event in enumerate(events, start=last - len(events) + 1):
                pipe.zadd(PREFIX + event.user_id, {f"{number:020d}\t{event.item_id}": event.timestamp})
            for user in {e.user_id for e in events}:
                pipe.zremrangebyrank(PREFIX + user, 0, -self.keep - 1)
            pipe.incrby(COUNTER, len(events))
            pipe.execute()
        except self._errors as e:
            raise StorageError(f"event store {self.url}: {e}") from None
        return len(events)

    def latest(self, user_ids: Iterable[str], length: int) -> dict[str, list[str]]:
        users = [str(u) for u in user_ids]
        try:
            pipe = self._redis.pipeline(transaction=False)
            for user in users:
                pipe.zrange(PREFIX + user, -int(length), -1)
            answers = pipe.execute()
        except self._errors as e:
            raise StorageError(f"event store {self.url}: {e}") from None
        return {user: [member.decode("utf-8").split("\t", 1)[1] for member in members]
                for user, members in zip(users, answers)}

    def events(self) -> Iterator[Event]:
        try:
            keys = sorted(self._redis.scan_iter(match=PREFIX + "*", count=1000))
            for key in keys:
                user = key.decode("utf-8")[len(PREFIX):]
                for member, score in self._redis.zrange(key, 0, -1, withscores=True):
                    yield Event(user, member.decode("utf-8").split("\t", 1)[1], int(score))
        except self._errors as e:
            raise StorageError(f"event store {self.url}: {e}") from None

    def count(self) -> int:
        try:
            return int(self._redis.get(COUNTER) or 0)
        except self._errors as e:
            raise StorageError(f"event store {self.url}: {e}") from None

    def close(self) -> None:
        self._redis.close()
