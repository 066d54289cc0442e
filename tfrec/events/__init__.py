"""Recent interactions per user, kept between the events and the served models.

A user's intent moves within a session; the exported models take each user's
latest items through their ``with_history`` signatures, and an event store
keeps those items as they happen: SQLite (one file, the embedded default) or
Redis (the production backend). ``open_store("events.sqlite")`` or
``open_store("redis://127.0.0.1:6379/0")``; see :mod:`tfrec.events.store`.
"""

from tfrec.events.store import DEFAULT_KEEP, Event, EventStore, open_store

__all__ = ["DEFAULT_KEEP", "Event", "EventStore", "open_store"]
