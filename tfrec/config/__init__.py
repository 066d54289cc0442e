"""Run configuration: typed dataclasses read from YAML, checked before anything is written, saved with every run.

A run folder holds the exact ``config.yaml`` it was trained with (only the keys
the run reads), so evaluation, export and a repeat of the run see the same
settings. YAML is read with ``safe_load``; every section, nested ones included,
is a typed dataclass (``tfrec.config.typed``): an unknown key, a value of the
wrong type or out of range, and a key the chosen model does not read are
errors naming the key, the value and what is allowed.

Sections: ``data`` (:mod:`tfrec.config.data`), ``model.content`` and its
encoders (:mod:`tfrec.config.encoders`), the shared ``train`` and ``eval``
settings (:mod:`tfrec.config.training`), the retrieval run
(:mod:`tfrec.config.retrieval`) and the ranking run (:mod:`tfrec.config.ranking`).
"""

from __future__ import annotations

import os

import yaml

from tfrec.atomic import atomic_file
from tfrec.config.data import ColumnMapping, DataConfig, SyntheticConfig, TabularConfig, VocabularyConfig
from tfrec.config.encoders import CONTENT_MODES, ContentConfig, ImageEncoderConfig, TextEncoderConfig
from tfrec.config.ranking import (
    RANKING_TASKS,
    CandidateConfig,
    ItemItemConfig,
    RankingConfig,
    RankingModelConfig,
    RankingTrainConfig,
)
from tfrec.config.retrieval import ExportConfig, HistoryConfig, RetrievalConfig, RetrievalModelConfig, TrainConfig
from tfrec.config.training import EvalConfig, FitConfig
from tfrec.config.typed import check_unread, from_dict, to_dict
from tfrec.errors import ConfigError

__all__ = [
    "CONTENT_MODES", "RANKING_TASKS", "CandidateConfig", "ColumnMapping", "ConfigError", "ContentConfig",
    "DataConfig", "EvalConfig", "ExportConfig", "FitConfig", "HistoryConfig", "ImageEncoderConfig",
    "ItemItemConfig", "RankingConfig", "RankingModelConfig", "RankingTrainConfig", "RetrievalConfig",
    "RetrievalModelConfig", "SyntheticConfig", "TabularConfig", "TextEncoderConfig", "TrainConfig", "VocabularyConfig",
    "apply_overrides", "build_config", "from_dict", "load_config", "read_yaml", "save_config", "to_dict",
]


def read_yaml(path: str) -> dict:
    """The mapping a YAML config file holds, or a ``ConfigError`` naming the file."""
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a folder, not a config file (give the .yaml file)")
    try:
        with open(path) as f:
            values = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a text file ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of sections (name, data, model, train ...), "
                          f"got a {type(values).__name__}")
    return values


def apply_overrides(values: dict, overrides: dict | None) -> dict:
    """``values`` with dotted keys (``train.epochs``) set; a key below a plain value is an error."""
    for dotted, value in (overrides or {}).items():
        node, path = values, []
        *parents, leaf = dotted.split(".")
        if not all(parents) or not leaf:
            raise ConfigError(f"--set {dotted}: not a dotted key like train.epochs")
        for key in parents:
            path.append(key)
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {dotted}: {'.'.join(path)} is {child!r}, not a section with keys")
            node = child
        node[leaf] = value
    return values


def build_config(values: dict, cls=RetrievalConfig, source: str = ""):
    """The checked config of YAML ``values``; ``source`` (a file name) prefixes any error."""
    try:
        config = from_dict(cls, values)
        check_unread(config)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}" if source else str(e)) from None
    return config


def load_config(path: str, cls=RetrievalConfig, overrides: dict | None = None):
    """Reads and checks a YAML config; ``overrides`` maps dotted keys (``train.epochs``) to values."""
    return build_config(apply_overrides(read_yaml(path), overrides), cls, source=path)


def save_config(config, path: str) -> None:
    """Writes the keys ``config`` reads, atomically."""
    with atomic_file(path) as f:
        yaml.safe_dump(to_dict(config), f, sort_keys=False)
