"""Loads the data set a config names: built-in synthetic, MovieLens 100K, or the user's files."""

from __future__ import annotations

from tfrec.config import ConfigError, DataConfig
from tfrec.data.schema import RecDataset


def load_dataset(config: DataConfig):
    """Returns ``(RecDataset, ValidationReport or None)`` for ``config.source``."""
    if config.source == "synthetic":
        from tfrec.data.synthetic import SyntheticConfig, load_or_generate

        try:
            synthetic = SyntheticConfig(**config.synthetic)
        except TypeError as e:
            raise ConfigError(f"data.synthetic: {e}") from e
        return load_or_generate(synthetic, config.cache_dir), None
    if config.source == "movielens":
        from tfrec.data.movielens import load_movielens_100k

        if not config.path:
            raise ConfigError("data.path must name the MovieLens 100K folder when data.source is 'movielens'")
        return load_movielens_100k(config.path, skip_bad_rows=config.skip_bad_rows)
    if config.source == "tabular":
        from tfrec.data.tabular import ColumnMapping, load_tabular

        options = dict(config.tabular)
        mapping = ColumnMapping(**options.pop("mapping", {}))
        return load_tabular(mapping=mapping, skip_bad_rows=config.skip_bad_rows, **options)
    raise ConfigError(f"data.source must be 'synthetic', 'movielens' or 'tabular', got {config.source!r}")
