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
    drop_latest: each user's latest N interactions are removed before
    splitting: the data as it stood N interactions earlier (a two-stage
    ranker's leak-free training lists come from a model of such data).
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
    drop_latest: int = 0


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
    image: ``ImageEncoderConfig`` fields (``variant: lite0|b0|tiny``, ``image_size``,
    ``weights``, ``random_init``); empty to leave images out.
    modality_dropout: share of training examples whose text (and, separately,
    image) is hidden, so items without one still embed well.
    """

    mode: str = "none"
    text: dict = dataclasses.field(default_factory=lambda: {"preset": "minilm", "sequence_length": 128})
    image: dict = dataclasses.field(default_factory=lambda: {"variant": "lite0", "image_size": 224})
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
class HistoryConfig:
    """The query tower's reading of the user's recent items (``length: 0`` turns it off).

    encoder: ``transformer`` (causal self-attention), ``gru`` or ``mean``.
    use_content: add the items' cached content vectors to their id embeddings.
    """

    length: int = 0
    encoder: str = "transformer"
    dim: int = 64
    num_layers: int = 1
    num_heads: int = 2
    dropout: float = 0.1
    use_content: bool = True

    @property
    def enabled(self) -> bool:
        return self.length > 0


@dataclasses.dataclass
class ItemItemConfig:
    """The ranker's co-occurrence features of a candidate with the user's recent items
    (``tfrec.models.item_item_features``; ``neighbours: 0`` turns them off).

    neighbours: strongest related items kept per item (EASE weights and transitions).
    ease_l2: EASE regularisation.
    window: transition steps, and the latest history items the transition feature reads.
    recent: the latest history items of the second EASE feature.
    """

    neighbours: int = 0
    ease_l2: float = 500.0
    window: int = 3
    recent: int = 5

    @property
    def enabled(self) -> bool:
        return self.neighbours > 0


@dataclasses.dataclass
class RetrievalModelConfig:
    """Two-tower shape and the retrieval task's options.

    id_skip: each tower also adds an id embedding of ``embedding_dim`` to its
    output, past the MLP: features and content shape the embedding through
    the MLP, and the id keeps what only it knows about a warm user or item.
    """

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
    id_skip: bool = False
    history: HistoryConfig = dataclasses.field(default_factory=HistoryConfig)
    content: ContentConfig = dataclasses.field(default_factory=ContentConfig)


@dataclasses.dataclass
class TrainConfig:
    """``model.fit`` settings. ``strategy``: auto, default, one_device, mirrored, multi_worker,
    parameter_server (see ``docs/distributed.md``); ``batch_size`` is per replica.

    cross_replica_negatives: with several replicas, in-batch negatives come
    from the whole global batch. mixed_precision: ``mixed_float16`` compute
    (GPUs). jit_compile: XLA auto-clustering (GPUs). keep_checkpoints: epoch
    checkpoints kept in ``checkpoints/``. backup: resume an interrupted run
    from ``backup/``. histogram_freq, profile_batch, projector: TensorBoard
    weight histograms every N epochs, profiled batches (``0``, ``5`` or
    ``"5,8"``), item-embedding projector. warm_start: a trained run to
    continue from (its weights, with vocabularies grown for new ids).
    ps_min_shard_bytes: variables larger than this are sharded over parameter servers.
    """

    batch_size: int = 1024
    epochs: int = 30
    learning_rate: float = 0.005
    optimizer: str = "adam"
    strategy: str = "auto"
    early_stopping_patience: int = 3
    monitor_k: int = 10
    seed: int = 42
    verbose: int = 0
    cross_replica_negatives: bool = True
    mixed_precision: bool = False
    jit_compile: bool = False
    keep_checkpoints: int = 3
    backup: bool = True
    histogram_freq: int = 1
    profile_batch: typing.Union[int, str] = 0
    projector: bool = True
    warm_start: str = ""
    ps_min_shard_bytes: int = 262144


@dataclasses.dataclass
class EvalConfig:
    ks: list = dataclasses.field(default_factory=lambda: [1, 5, 10, 20, 50])
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


RANKING_TASKS = ("rating", "engagement", "listwise")


@dataclasses.dataclass
class CandidateConfig:
    """Retrieved candidate lists to train an engagement or listwise ranker on.

    retrieval_run: a trained retrieval run (same data and split) whose model
    retrieves each list; empty to train on the interaction rows instead.
    k: candidates per list (the two-stage serving default too).
    earlier_items: ``0``: the lists are the users' validation items, a share
    of the users held out for early stopping. ``N > 0`` (temporal splits): a
    retrieval model of the same config is also trained on the data without
    each user's test, validation and latest N training interactions
    (``data.drop_latest: N + 2``), and those N training items are targets of
    lists it retrieves: items it never saw, like the test item for the served
    model, so the ranker gets N times more lists without leakage. The
    validation items' lists (from ``retrieval_run``) then stop training.
    include_positive: put the target into its training list (replacing the
    weakest candidate) when retrieval missed it; otherwise such lists are dropped.
    """

    retrieval_run: str = ""
    k: int = 100
    earlier_items: int = 0
    include_positive: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.retrieval_run)


@dataclasses.dataclass
class RankingModelConfig:
    """Ranking model: user and item encoders → DCN-v2 cross layers → deep MLP → one head per task.

    tasks: task → loss weight; tasks are ``rating`` (MSE, RMSE), ``engagement``
    (binary cross-entropy, AUC) and ``listwise`` (softmax or ListMLE over a
    retrieved list, NDCG). ``listwise`` needs ``candidates``.
    projection_dim: low-rank cross layers (``0``: full rank).
    bias_terms: the rating is global mean + user bias + item bias + the network's output.
    engagement_threshold: on interaction rows, a rating at or above it counts as engaged.
    use_retrieval_score: the retrieval model's score of the pair is an input
    feature (candidate-list training only; the ranking export then takes it).
    activity_features: the user's latest and the item's median training time,
    the item's log count and their gap (``tfrec.models.activity_features``).
    history: the user's recent items through a history encoder, as in the
    retrieval query tower (``HistoryConfig``; ``length: 0`` is off).
    item_item: co-occurrence features of the candidate with those recent items (``ItemItemConfig``).
    """

    id_embedding_dim: int = 32
    feature_embedding_dim: int = 16
    use_user_features: bool = True
    use_item_features: bool = True
    num_oov_buckets: int = 1
    embedding_l2: float = 0.0
    bias_l2: float = 0.0
    kernel_l2: float = 0.0
    cross_layers: int = 1
    projection_dim: int = 0
    deep_dims: list = dataclasses.field(default_factory=lambda: [192, 192])
    dropout: float = 0.0
    bias_terms: bool = True
    tasks: dict = dataclasses.field(default_factory=lambda: {"rating": 1.0})
    listwise_loss: str = "softmax"
    engagement_threshold: float = 4.0
    use_retrieval_score: bool = False
    activity_features: bool = False
    content: ContentConfig = dataclasses.field(default_factory=ContentConfig)
    history: HistoryConfig = dataclasses.field(default_factory=HistoryConfig)
    item_item: ItemItemConfig = dataclasses.field(default_factory=ItemItemConfig)

    def __post_init__(self):
        if not self.tasks or not isinstance(self.tasks, dict):
            raise ConfigError(f"model.tasks must map task names {RANKING_TASKS} to loss weights, got {self.tasks!r}")
        unknown = sorted(set(self.tasks) - set(RANKING_TASKS))
        if unknown:
            raise ConfigError(f"model.tasks has unknown task(s) {unknown}; known tasks: {list(RANKING_TASKS)}")
        if self.listwise_loss not in ("softmax", "listmle"):
            raise ConfigError(f"model.listwise_loss must be 'softmax' or 'listmle', got {self.listwise_loss!r}")
        if self.content.mode not in ("none", "cached"):
            raise ConfigError(f"ranking reads item content as cached vectors: model.content.mode must be "
                              f"'none' or 'cached', got {self.content.mode!r}")


@dataclasses.dataclass
class RankingTrainConfig(TrainConfig):
    """``TrainConfig`` plus the validation slice used when the split has none (random splits).

    monitor: ``auto`` (the first task's validation metric) or a Keras log name.
    final_fit: once early stopping has chosen the number of epochs, train a
    fresh model for that many epochs on the training and validation data
    together, and keep it. For candidate lists this matters: the validation
    lists are the latest ones and the only ones the served retrieval model
    made, so they are the closest to what the ranker meets on test.
    """

    validation_fraction: float = 0.1
    monitor: str = "auto"
    final_fit: bool = False


@dataclasses.dataclass
class RankingConfig:
    name: str = "ranking"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: RankingModelConfig = dataclasses.field(default_factory=RankingModelConfig)
    candidates: CandidateConfig = dataclasses.field(default_factory=CandidateConfig)
    train: RankingTrainConfig = dataclasses.field(default_factory=RankingTrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    def __post_init__(self):
        if "listwise" in self.model.tasks and not self.candidates.enabled:
            raise ConfigError("model.tasks 'listwise' needs candidate lists: set candidates.retrieval_run")
        if self.model.use_retrieval_score and not self.candidates.enabled:
            raise ConfigError("model.use_retrieval_score needs candidates.retrieval_run")
        if self.candidates.earlier_items < 0:
            raise ConfigError(f"candidates.earlier_items must be >= 0, got {self.candidates.earlier_items}")
        if self.candidates.earlier_items and self.data.split not in ("temporal", "temporal_leave_last_out"):
            raise ConfigError("candidates.earlier_items needs data.split: temporal (the latest training items "
                              f"are the targets), got {self.data.split!r}")
        if self.model.history.enabled and not self.candidates.enabled:
            raise ConfigError("model.history needs candidate lists (candidates.retrieval_run): a list's target "
                              "defines the moment its history is cut")
        if self.model.item_item.enabled and not (self.model.history.enabled and self.candidates.earlier_items):
            raise ConfigError("model.item_item needs model.history (the items it relates the candidate to) and "
                              "candidates.earlier_items (training lists whose targets its relations never saw)")
        if self.model.use_retrieval_score and self.candidates.include_positive:
            raise ConfigError("model.use_retrieval_score needs candidates.include_positive: false (an inserted "
                              "target would be the one candidate scored below the list, which the ranker would learn)")
