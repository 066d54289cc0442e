"""The loop between the event store and training: seed a store from a run, train on what it gathered.

* :func:`seed_from_run`: each user's latest interactions of a trained run's
  data go into the store, so a user's store history starts where the training
  data ends and a new click extends it instead of replacing it.
* :func:`with_events`: the data set of the next warm start, the store's events
  added as implicit interactions (rating 1). Events already in the data (the
  seed) are not counted twice; events naming items outside the catalogue are
  left out (there is nothing to learn them from yet: add the items first) and
  counted in the log; new users get a row with empty attributes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.data.history import chronological
from tfrec.data.schema import RecDataset
from tfrec.events.store import Event, EventStore, open_store


def seed_from_run(store: EventStore, run, log=print) -> int:
    """Adds each user's latest ``store.keep`` interactions of ``run``'s data not already in the store."""
    from tfrec.data.trained_data import TrainedData
    from tfrec.run_folder import RunFolder

    with RunFolder(run).reading() as folder:
        interactions = TrainedData.load(folder.data_dir).dataset.interactions
    latest = chronological(interactions).groupby("user_id", sort=False).tail(store.keep)
    there = {(e.user_id, e.item_id, e.timestamp) for e in store.events()}
    events = [Event(u, i, int(t)) for u, i, t in zip(latest.user_id, latest.item_id, latest.timestamp)
              if (u, i, int(t)) not in there]
    added = 0
    for start in range(0, len(events), 10_000):
        added += store.add_many(events[start:start + 10_000])
    log(f"seeded {added:,} event(s) of {latest.user_id.nunique():,} user(s) from {run} "
        f"({len(latest) - added:,} already in the store)")
    return added


def with_events(dataset: RecDataset, spec: str, log=print) -> RecDataset:
    """``dataset`` with the events of the store ``spec`` as further interactions."""
    with open_store(spec) as store:
        events = pd.DataFrame([(e.user_id, e.item_id, e.timestamp) for e in store.events()],
                              columns=["user_id", "item_id", "timestamp"])
    interactions = dataset.interactions
    known_items = set(dataset.items.item_id)
    in_catalogue = events.item_id.isin(known_items).to_numpy(bool)
    keys = pd.MultiIndex.from_frame(interactions[["user_id", "item_id", "timestamp"]].astype(
        {"timestamp": np.int64}))
    fresh = ~pd.MultiIndex.from_frame(events.astype({"timestamp": np.int64})).isin(keys) if len(events) else \
        np.zeros(0, bool)
    new = events[in_catalogue & fresh]
    log(f"events from {spec}: {len(new):,} new interaction(s) of {new.user_id.nunique():,} user(s) added; "
        f"{int((~fresh).sum()):,} already in the data, {int((~in_catalogue).sum()):,} of items outside the "
        "catalogue left out")
    if not len(new):
        return dataset
    new = new.assign(rating=np.float32(1.0))
    users = dataset.users
    missing = sorted(set(new.user_id) - set(users.user_id))
    if missing:
        blank = {c: "" for c in dataset.user_categorical}
        blank.update({c: 0.0 for c in dataset.user_numeric})  # as the tabular loader fills a user without a row
        users = pd.concat([users, pd.DataFrame({"user_id": missing, **{c: [v] * len(missing)
                                                                         for c, v in blank.items()}})],
                          ignore_index=True)
    return RecDataset(name=dataset.name, interactions=pd.concat([interactions, new[interactions.columns]],
                                                                ignore_index=True),
                      items=dataset.items, users=users, item_categorical=dataset.item_categorical,
                      user_categorical=dataset.user_categorical, user_numeric=dataset.user_numeric)
