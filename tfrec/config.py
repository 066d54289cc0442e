"""Run configuration: plain dataclasses read from YAML and saved with every run.

A run folder holds the exact ``config.yaml`` it was trained with, so
evaluation, export and a repeat of the run rebuild the same data split,
vocabularies and model. YAML is read with ``safe_load``; an unknown key is an
error naming the key and its section, so a typo never silently falls back to
a default.
"""

from __future__ import annotations

import dataclasses
import typing

import yaml

from tfrec.atomic import atomic_file


class ConfigError(ValueError):
    """A configuration file or value is not valid."""


@dataclasses.dataclass
class DataConfig:
    """Where interactions come from and how they are split.

    source: ``synthetic`` (built in), ``movielens`` (a MovieLens 100K folder at
    ``path``) or ``tabular`` (CSV/Parquet files, see ``tabular``).
    cold_item_fraction: share of items held out of training entirely; their
    interactions become the cold-start test set.
    """

    source: str = "synthetic"
    path: str = ""
    synthetic: dict = dataclasses.field(default_factory=dict)
    tabular: dict = dataclasses.field(default_factory=dict)
    split: str = "temporal"
    test_fraction: float = 0.2
    skip_bad_rows: bool = False
    cache_dir: str = "data_cache"
    cold_item_fraction: float = 0.0
    cold_item_seed: int = 7


CONTENT_MODES = ("none", "cached", "frozen", "finetune")


@dataclasses.dataclass
class ContentConfig:
    """Item content read by pretrained encoders in the candidate tower.

    mode: ``none`` (ids and light features only); ``cached`` (frozen encoders,
    every catalogue item encoded once per run and looked up while training:
    the fast default); ``frozen`` (frozen encoders run inside the tower, each
    distinct item of a batch once); ``finetune`` (as frozen, but the encoder
    weights train too).
    text: ``TextEncoderConfig`` fields (``preset: minilm|tiny|DIR``,
    ``sequence_length``, ``pooling``); empty to leave text out.
    image: ``ImageEncoderConfig`` fields (``variant: b0|tiny``, ``image_size``,
    ``weights``); empty to leave images out.
    modality_dropout: share of training examples whose text (and, separately,
    image) is hidden, so items without one still embed well.
    """

    mode: str = "none"
    text: dict = dataclasses.field(default_factory=lambda: {"preset": "minilm", "sequence_length": 128})
    image: dict = dataclasses.field(default_factory=lambda: {"variant": "b0", "image_size": 224})
    projection_dim: int = 64
    modality_dropout: float = 0.1
    encode_batch_size: int = 64

    def __post_init__(self):
        if self.mode not in CONTENT_MODES:
            raise ConfigError(f"model.content.mode must be one of {CONTENT_MODES}, got {self.mode!r}")
        if self.mode != "none" and not (self.text or self.image):
            raise ConfigError("model.content needs text or image settings when mode is not 'none'")

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


@dataclasses.dataclass
class RetrievalModelConfig:
    """Two-tower shape and the retrieval task's options."""

    embedding_dim: int = 64
    id_embedding_dim: int = 64
    feature_embedding_dim: int = 16
    hidden_dims: list = dataclasses.field(default_factory=lambda: [128])
    dropout: float = 0.0
    use_user_features: bool = True
    use_item_features: bool = True
    num_oov_buckets: int = 1
    l2_normalize: bool = True
    temperature: float = 0.1
    logq_correction: bool = True
    remove_accidental_hits: bool = True
    embedding_l2: float = 0.0
    id_dropout: float = 0.0
    item_bias: bool = False
    content: ContentConfig = dataclasses.field(default_factory=ContentConfig)


@dataclasses.dataclass
class TrainConfig:
    """``model.fit`` settings. ``strategy``: auto, default, one_device, mirrored, multi_worker."""

    batch_size: int = 1024
    epochs: int = 30
    learning_rate: float = 0.005
    optimizer: str = "adam"
    strategy: str = "auto"
    early_stopping_patience: int = 3
    monitor_k: int = 10
    seed: int = 42
    verbose: int = 0


@dataclasses.dataclass
class EvalConfig:
    ks: list = dataclasses.field(default_factory=lambda: [10, 20])
    batch_size: int = 512


@dataclasses.dataclass
class ExportConfig:
    """``max_k`` bounds the ``k`` a request may ask for."""

    max_k: int = 100
    exclude_seen: bool = True


@dataclasses.dataclass
class RetrievalConfig:
    name: str = "retrieval"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: RetrievalModelConfig = dataclasses.field(default_factory=RetrievalModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)


T = typing.TypeVar("T")


def from_dict(cls: type[T], values: dict | None, section: str = "") -> T:
    """Builds dataclass ``cls`` from a nested dict, rejecting unknown keys."""
    values = values or {}
    if not isinstance(values, dict):
        raise ConfigError(f"section {section or cls.__name__!r} must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in section {section or 'top level'!r}; "
            f"known keys: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value, f"{section}.{name}".strip("."))
        else:
            kwargs[name] = value
    return cls(**kwargs)


def load_config(path: str, cls: type[T] = RetrievalConfig, overrides: dict | None = None) -> T:
    """Reads a YAML config; ``overrides`` maps dotted keys (``train.epochs``) to values."""
    try:
        with open(path) as f:
            values = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    for dotted, value in (overrides or {}).items():
        node = values
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return from_dict(cls, values)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def save_config(config, path: str) -> None:
    with atomic_file(path) as f:
        yaml.safe_dump(dataclasses.asdict(config), f, sort_keys=False)
