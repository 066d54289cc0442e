"""The retrieval run's config: the two towers, their training, evaluation and export."""

from __future__ import annotations

import dataclasses

from tfrec.config.data import DataConfig
from tfrec.config.encoders import ContentConfig
from tfrec.config.training import EvalConfig, FitConfig
from tfrec.config.typed import Section, given_keys, setting
from tfrec.errors import ConfigError

HISTORY_ENCODERS = ("transformer", "gru", "mean")


@dataclasses.dataclass
class HistoryConfig(Section):
    """The user's recent items read by a history encoder (``length: 0`` turns it off)."""

    length: int = setting(0, ge=0, help="latest items read per user (0: no history)")
    encoder: str = setting("transformer", choices=HISTORY_ENCODERS, help="transformer (causal self-attention), "
                                                                          "gru or mean")
    dim: int = setting(64, ge=1, help="width of the history encoder")
    num_layers: int = setting(1, ge=1, help="transformer or GRU layers")
    num_heads: int = setting(2, ge=1, help="attention heads (transformer)")
    dropout: float = setting(0.1, ge=0, lt=1, help="dropout inside the history encoder")
    use_content: bool = setting(True, help="add the items' cached content vectors to their id embeddings "
                                           "(needs model.content.mode: cached)")

    def unread(self) -> dict[str, str]:
        if not self.enabled:
            return {name: "model.history.length is 0 (no history)"
                    for name in ("encoder", "dim", "num_layers", "num_heads", "dropout", "use_content")}
        if self.encoder == "mean":
            return {"num_layers": "the mean encoder has no layers", "num_heads": "the mean encoder has no heads"}
        if self.encoder == "gru":
            return {"num_heads": "a GRU has no attention heads"}
        return {}

    @property
    def enabled(self) -> bool:
        return self.length > 0


@dataclasses.dataclass
class RetrievalModelConfig(Section):
    """Two-tower shape and the retrieval task's options."""

    embedding_dim: int = setting(64, ge=1, help="size of the user and item embeddings")
    id_embedding_dim: int = setting(64, ge=1, help="size of the id embeddings inside the towers")
    feature_embedding_dim: int = setting(16, ge=1, help="size of the categorical feature embeddings")
    hidden_dims: list[int] = setting(factory=lambda: [128], ge=1, help="ReLU layers of each tower's MLP")
    dropout: float = setting(0.0, ge=0, lt=1, help="dropout after each hidden layer")
    use_user_features: bool = setting(True, help="the query tower reads user attributes")
    use_item_features: bool = setting(True, help="the candidate tower reads categories and title words")
    num_oov_buckets: int = setting(1, ge=1, help="buckets shared by ids outside the vocabulary")
    l2_normalize: bool = setting(True, help="unit-length embeddings: scores are cosine similarities")
    temperature: float = setting(0.1, gt=0, help="the softmax temperature of the in-batch retrieval loss")
    logq_correction: bool = setting(True, help="correct in-batch negatives for item popularity (log-Q)")
    remove_accidental_hits: bool = setting(True, help="an in-batch negative that is the positive item "
                                                      "does not count")
    embedding_l2: float = setting(0.0, ge=0, help="L2 penalty of the id embeddings")
    id_dropout: float = setting(0.0, ge=0, lt=1, help="share of training item ids replaced by the unknown id, "
                                                      "so unknown (new) items embed well")
    item_bias: bool = setting(False, help="a learned item bias (with a popularity prior) in the score")
    id_skip: bool = setting(False, help="each tower adds an id embedding past its MLP: content shapes the "
                                        "embedding, the id keeps what only it knows")
    history: HistoryConfig = setting(factory=HistoryConfig, help="the query tower's reading of recent items")
    content: ContentConfig = setting(factory=ContentConfig, help="text and image encoders of the candidate tower")

    def unread(self) -> dict[str, str]:
        unread = {}
        if self.history.enabled and self.content.mode != "cached":
            unread["history.use_content"] = ("history items read content vectors only when they are cached "
                                             f"(model.content.mode is {self.content.mode!r})")
        return unread


@dataclasses.dataclass
class TrainConfig(FitConfig):
    """Retrieval training: the shared fit settings, plus what only retrieval has.

    Early stopping and the kept checkpoint follow full-ranking validation NDCG@``monitor_k``.
    """

    monitor_k: int = setting(10, ge=1, help="validation NDCG@K that early stopping and the kept weights follow "
                                            "(<= the catalogue size)")
    cross_replica_negatives: bool = setting(True, help="with several replicas, in-batch negatives come from "
                                                       "the whole global batch")
    mixed_precision: bool = setting(False, help="mixed_float16 compute (GPUs)")
    jit_compile: bool = setting(False, help="XLA auto-clustering (GPUs)")
    projector: bool = setting(True, help="write the item embeddings for TensorBoard's projector")
    warm_start: str = setting("", help="a trained run to continue from: its weights, with vocabularies grown "
                                       "for new ids")
    ps_min_shard_bytes: int = setting(262144, ge=1, help="variables larger than this are sharded over "
                                                         "parameter servers")

    def unread(self) -> dict[str, str]:
        if self.strategy != "parameter_server":
            return {"ps_min_shard_bytes": f"train.strategy is {self.strategy!r}, not 'parameter_server'"}
        return {}

    def for_catalogue(self, num_items: int, log=print) -> "TrainConfig":
        """These settings for a catalogue of ``num_items``: a given ``monitor_k`` beyond it is an error,
        the default one is lowered to it."""
        if self.monitor_k <= num_items:
            return self
        if "monitor_k" in given_keys(self):
            raise ConfigError(f"train.monitor_k {self.monitor_k} exceeds the catalogue of {num_items} item(s); "
                              f"it must be at most {num_items}")
        log(f"train.monitor_k: the catalogue has {num_items} item(s), validating NDCG@{num_items}")
        return dataclasses.replace(self, monitor_k=num_items)


# From this catalogue size on, the partitioned index answers a query several times faster than brute force
# at recall@100 >= 0.95 (benchmarks/index.py; docs/results.md "Partitioned index").
PARTITIONED_FROM = 200_000


@dataclasses.dataclass
class ExportConfig(Section):
    """The exported retrieval SavedModel."""

    max_k: int = setting(100, ge=1, help="the largest k a request may ask for (at most the catalogue size)")
    exclude_seen: bool = setting(True, help="never recommend what the user already interacted with")
    index: str = setting("auto", choices=("auto", "brute_force", "partitioned"),
                         help="how the SavedModel finds the top items: brute_force scores every item (exact); "
                              "partitioned scores the nprobe best k-means partitions; auto is partitioned from "
                              "partitioned_from items on")
    partitioned_from: int = setting(PARTITIONED_FROM, ge=1, help="the catalogue size from which index: auto "
                                                                  "partitions")
    partitions: int = setting(0, ge=0, help="k-means partitions of the partitioned index; 0: about 4·√items")
    nprobe: int = setting(0, ge=0, help="partitions each query ranks exactly (more: higher recall, slower); "
                                       "0: about 3% of them, at least 32")
    quantize: str = setting("none", choices=("none", "int8"),
                            help="item vectors of the partitioned index: float32, or int8 with a per-vector scale")

    def unread(self) -> dict[str, str]:
        if self.index == "brute_force":
            why = "export.index is 'brute_force'"
            return {key: why for key in ("partitioned_from", "partitions", "nprobe", "quantize")}
        if self.index == "partitioned":
            return {"partitioned_from": "export.index is 'partitioned', not 'auto'"}
        return {}

    def index_for(self, num_items: int) -> str:
        """``brute_force`` or ``partitioned`` for a catalogue of ``num_items``."""
        if self.index == "auto":
            return "partitioned" if num_items >= self.partitioned_from else "brute_force"
        return self.index


@dataclasses.dataclass
class RetrievalConfig(Section):
    """A retrieval run: ``tfrec train --config``."""

    name: str = setting("retrieval", help="the model's name in reports and evaluation tables")
    data: DataConfig = setting(factory=DataConfig, help="where the data comes from and how it is split")
    model: RetrievalModelConfig = setting(factory=RetrievalModelConfig, help="the two towers")
    train: TrainConfig = setting(factory=TrainConfig, help="model.fit")
    eval: EvalConfig = setting(factory=EvalConfig, help="full-ranking evaluation")
    export: ExportConfig = setting(factory=ExportConfig, help="the TF Serving export")

    def validate(self):
        if self.data.sharded and self.model.history.enabled:
            raise ConfigError("model.history reads each interaction's preceding items, which a stream of shards "
                              "does not keep in order per user; a sharded data set trains models without history")
        if self.data.sharded and self.train.warm_start:
            raise ConfigError("train.warm_start grows in-memory vocabularies; it is not available for a sharded "
                              "data set yet")

    def for_catalogue(self, num_items: int, log=print) -> "RetrievalConfig":
        """This config with its K settings checked against (or, when defaulted, fitted to) the catalogue."""
        train, eval_ = self.train.for_catalogue(num_items, log), self.eval.for_catalogue(num_items, log)
        if train is self.train and eval_ is self.eval:
            return self
        return dataclasses.replace(self, train=train, eval=eval_)
