"""Loads the data set a config names: built-in synthetic, MovieLens 100K, or the user's files."""

from __future__ import annotations

from tfrec.config.data import DataConfig


def load_dataset(config: DataConfig, log=print):
    """Returns ``(RecDataset, ValidationReport or None)`` for ``config.source``, with the events of
    ``config.events`` (an event store) added as interactions."""
    dataset, report = _load_source(config)
    if config.events:
        from tfrec.events.feedback import with_events

        dataset = with_events(dataset, config.events, log=log)
    return dataset, report


def _load_source(config: DataConfig):
    if config.source == "synthetic":
        from tfrec.data.synthetic import load_or_generate

        return load_or_generate(config.synthetic, config.cache_dir), None
    if config.source == "movielens":
        from tfrec.data.movielens import load_movielens_100k

        return load_movielens_100k(config.path, skip_bad_rows=config.skip_bad_rows)
    if config.sharded:
        from tfrec.errors import DataError

        raise DataError(f"{config.path} is a sharded data set: it streams from its shards and is never loaded "
                        "whole (tfrec data check prints its manifest)")
    from tfrec.data.tabular import load_tabular

    t = config.tabular
    return load_tabular(t.interactions, t.items, t.users, mapping=t.mapping, skip_bad_rows=config.skip_bad_rows,
                        name=t.name)
