"""The ranking run's config: the DCN ranker, its training data (rows or retrieved lists) and its training."""

from __future__ import annotations

import dataclasses

from tfrec.config.data import DataConfig
from tfrec.config.encoders import ContentConfig
from tfrec.config.retrieval import HistoryConfig
from tfrec.config.training import EvalConfig, FitConfig
from tfrec.config.typed import Section, given_keys, setting
from tfrec.errors import ConfigError

RANKING_TASKS = ("rating", "engagement", "listwise")
LISTWISE_LOSSES = ("softmax", "listmle")
# The validation metric each task logs, what early stopping follows by default, and whether it should go up.
TASK_MONITORS = {"rating": ("val_rmse", "min"), "engagement": ("val_auc", "max"), "listwise": ("val_ndcg_at_10", "max")}
RANKING_STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker")


@dataclasses.dataclass
class ItemItemConfig(Section):
    """The ranker's co-occurrence features of a candidate with the user's recent items
    (``tfrec.models.item_item_features``; ``neighbours: 0`` turns them off)."""

    neighbours: int = setting(0, ge=0, help="strongest related items kept per item (EASE weights and "
                                            "transitions); 0: off")
    ease_l2: float = setting(500.0, gt=0, help="EASE regularisation")
    window: int = setting(3, ge=1, help="transition steps, and the latest history items the transition "
                                        "feature reads")
    recent: int = setting(5, ge=1, help="the latest history items of the second EASE feature")

    def unread(self) -> dict[str, str]:
        if self.enabled:
            return {}
        return {name: "model.item_item.neighbours is 0 (off)" for name in ("ease_l2", "window", "recent")}

    @property
    def enabled(self) -> bool:
        return self.neighbours > 0


@dataclasses.dataclass
class CandidateConfig(Section):
    """Retrieved candidate lists to train an engagement or listwise ranker on.

    earlier_items: ``0``: the lists are the users' validation items, a share
    of the users held out for early stopping. ``N > 0`` (temporal splits): a
    retrieval model of the same config is also trained on the data without
    each user's test, validation and latest N training interactions, and those
    N training items are targets of lists it retrieves: items it never saw,
    like the test item for the served model, so the ranker gets N times more
    lists without leakage. The validation items' lists then stop training.
    """

    retrieval_run: str = setting("", help="a trained retrieval run (same data and split) whose model retrieves "
                                          "each list; empty: train on interaction rows")
    k: int = setting(100, ge=2, help="candidates per list (the two-stage serving default too)")
    earlier_items: int = setting(0, ge=0, help="training lists from a retrieval model that never saw each "
                                               "user's latest N training items (see above)")
    include_positive: bool = setting(True, help="put the target into its list when retrieval missed it "
                                                "(else such lists are dropped)")

    def unread(self) -> dict[str, str]:
        if self.enabled:
            return {}
        return {name: "candidates.retrieval_run is empty (the ranker trains on interaction rows)"
                for name in ("k", "earlier_items", "include_positive")}

    @property
    def enabled(self) -> bool:
        return bool(self.retrieval_run)


@dataclasses.dataclass
class RankingModelConfig(Section):
    """Ranking model: user and item encoders → DCN-v2 cross layers → deep MLP → one head per task."""

    id_embedding_dim: int = setting(32, ge=1, help="size of the id embeddings")
    feature_embedding_dim: int = setting(16, ge=1, help="size of the categorical feature embeddings")
    use_user_features: bool = setting(True, help="read user attributes")
    use_item_features: bool = setting(True, help="read item categories and title words")
    num_oov_buckets: int = setting(1, ge=1, help="buckets shared by ids outside the vocabulary")
    embedding_l2: float = setting(0.0, ge=0, help="L2 penalty of the embeddings")
    bias_l2: float = setting(0.0, ge=0, help="L2 penalty of the rating's user and item biases")
    kernel_l2: float = setting(0.0, ge=0, help="L2 penalty of the cross and deep layers")
    cross_layers: int = setting(1, ge=0, help="DCN-v2 cross layers")
    projection_dim: int = setting(0, ge=0, help="low-rank cross layers (0: full rank)")
    deep_dims: list[int] = setting(factory=lambda: [192, 192], ge=1, help="the deep ReLU MLP after the crosses")
    dropout: float = setting(0.0, ge=0, lt=1, help="dropout in the deep MLP")
    bias_terms: bool = setting(True, help="rating = global mean + user bias + item bias + the network's output")
    tasks: dict[str, float] = setting(factory=lambda: {"rating": 1.0}, ge=0, nonempty=True,
                                      help="task → loss weight; tasks: rating (MSE, RMSE), engagement "
                                           "(cross-entropy, AUC), listwise (over retrieved lists, NDCG@10)")
    listwise_loss: str = setting("softmax", choices=LISTWISE_LOSSES, help="softmax or listmle")
    engagement_threshold: float = setting(4.0, help="on interaction rows, a rating at or above it is an "
                                                    "engagement")
    use_retrieval_score: bool = setting(False, help="the retrieval score of the pair is an input (candidate "
                                                    "lists only; the ranking export then takes it)")
    activity_features: bool = setting(False, help="the user's latest and the item's median training time, the "
                                                  "item's log count and their gap")
    content: ContentConfig = setting(factory=ContentConfig, help="cached text and image vectors of the items")
    history: HistoryConfig = setting(factory=HistoryConfig, help="the user's recent items (needs candidate lists)")
    item_item: ItemItemConfig = setting(factory=ItemItemConfig, help="co-occurrence features with recent items")

    def validate(self):
        unknown = sorted(set(self.tasks) - set(RANKING_TASKS))
        if unknown:
            raise ConfigError(f"tasks has unknown task(s) {unknown}; known tasks: {list(RANKING_TASKS)}")
        if self.content.mode not in ("none", "cached"):
            raise ConfigError(f"ranking reads item content as cached vectors: content.mode must be "
                              f"'none' or 'cached', got {self.content.mode!r}")

    def unread(self) -> dict[str, str]:
        unread = {}
        if "listwise" not in self.tasks:
            unread["listwise_loss"] = "model.tasks has no listwise task"
        if "rating" not in self.tasks:
            unread["bias_terms"] = unread["bias_l2"] = "model.tasks has no rating task"
        elif not self.bias_terms:
            unread["bias_l2"] = "model.bias_terms is false"
        if "engagement" not in self.tasks:
            unread["engagement_threshold"] = "model.tasks has no engagement task"
        if self.history.enabled and self.content.mode != "cached":
            unread["history.use_content"] = ("history items read content vectors only when they are cached "
                                             f"(model.content.mode is {self.content.mode!r})")
        return unread


@dataclasses.dataclass
class RankingTrainConfig(FitConfig):
    """The shared fit settings, plus what only ranking has."""

    strategy: str = setting("auto", choices=RANKING_STRATEGIES, help="the tf.distribute strategy (the ranker "
                                                                     "has no parameter-server path)")
    validation_fraction: float = setting(0.1, gt=0, lt=1, help="share of training rows (random splits) or of "
                                                               "users' lists held out for early stopping")
    monitor: str = setting("auto", help="auto (the first task's validation metric) or a logged metric name, "
                                        "e.g. val_auc")
    final_fit: bool = setting(False, help="once early stopping chose the epochs, train a fresh model that long "
                                          "on training and validation data together, and keep it")


@dataclasses.dataclass
class RankingConfig(Section):
    """A ranking run: ``tfrec train-ranking --config``."""

    name: str = setting("ranking", help="the model's name in reports")
    data: DataConfig = setting(factory=DataConfig, help="where the data comes from and how it is split")
    model: RankingModelConfig = setting(factory=RankingModelConfig, help="the ranker")
    candidates: CandidateConfig = setting(factory=CandidateConfig, help="retrieved lists to train on")
    train: RankingTrainConfig = setting(factory=RankingTrainConfig, help="model.fit")
    eval: EvalConfig = setting(factory=EvalConfig, help="two-stage full-ranking evaluation")

    def validate(self):
        model, candidates = self.model, self.candidates
        if self.data.sharded:
            raise ConfigError("the ranker trains on in-memory data (interaction rows or retrieved lists); "
                              "data.source 'sharded' is for retrieval")
        if "listwise" in model.tasks and not candidates.enabled:
            raise ConfigError("model.tasks 'listwise' needs candidate lists: set candidates.retrieval_run")
        if model.use_retrieval_score and not candidates.enabled:
            raise ConfigError("model.use_retrieval_score needs candidates.retrieval_run")
        if candidates.earlier_items and not self.data.temporal:
            raise ConfigError("candidates.earlier_items needs data.split: temporal (the latest training items "
                              f"are the targets), got {self.data.split!r}")
        if model.history.enabled and not candidates.enabled:
            raise ConfigError("model.history needs candidate lists (candidates.retrieval_run): a list's target "
                              "defines the moment its history is cut")
        if model.item_item.enabled and not (model.history.enabled and candidates.earlier_items):
            raise ConfigError("model.item_item needs model.history (the items it relates the candidate to) and "
                              "candidates.earlier_items (training lists whose targets its relations never saw)")
        if model.use_retrieval_score and candidates.include_positive:
            raise ConfigError("model.use_retrieval_score needs candidates.include_positive: false (an inserted "
                              "target would be the one candidate scored below the list, which the ranker would learn)")
        allowed = self.monitors()
        if self.train.monitor != "auto" and self.train.monitor not in allowed:
            raise ConfigError(f"train.monitor {self.train.monitor!r} is not a metric this ranker logs; "
                              f"use 'auto' or one of {', '.join(allowed)}")

    def for_catalogue(self, num_items: int, log=print) -> "RankingConfig":
        """This config with its K settings checked against (or, when defaulted, fitted to) the catalogue."""
        eval_, candidates = self.eval.for_catalogue(num_items, log), self.candidates
        if candidates.enabled and candidates.k > num_items:
            if "k" in given_keys(candidates):
                raise ConfigError(f"candidates.k {candidates.k} exceeds the catalogue of {num_items} item(s); "
                                  f"it must be at most {num_items}")
            log(f"candidates.k: the catalogue has {num_items} item(s), lists of {num_items} candidates")
            candidates = dataclasses.replace(candidates, k=num_items)
        if eval_ is self.eval and candidates is self.candidates:
            return self
        return dataclasses.replace(self, eval=eval_, candidates=candidates)

    def monitors(self) -> list[str]:
        """Metric names ``train.monitor`` may follow, for this config's tasks."""
        names = ["loss", "total_loss", "regularization_loss"]
        names += [TASK_MONITORS[task][0].removeprefix("val_") for task in self.model.tasks]
        return names + [f"val_{name}" for name in names]

    def monitor(self) -> tuple[str, str]:
        """``(log name, mode)`` early stopping and the kept weights follow."""
        monitor = self.train.monitor
        if monitor == "auto":
            return TASK_MONITORS[next(iter(self.model.tasks))]
        return monitor, "min" if "rmse" in monitor or "loss" in monitor else "max"

    def unread(self) -> dict[str, str]:
        unread = {}
        if not self.candidates.enabled and self.data.temporal:
            unread["train.validation_fraction"] = "the temporal split's validation interactions stop training"
        elif self.candidates.earlier_items:
            unread["train.validation_fraction"] = "the validation items' lists stop training (candidates.earlier_items)"
        if self.candidates.enabled:
            unread["model.engagement_threshold"] = "candidate lists label the engaged item themselves"
        return unread
