"""Everything a ranking run derives from its config: data, split, training rows or lists, model.

Training, evaluation and export of a ranking run all start from
``RankingExperiment.prepare(config, run_dir)``. The data, split, vocabularies
and feature join are the retrieval side's (``Experiment.prepare``), so a
ranker and a retrieval model of the same data config see the same split.

Two kinds of training data:

* interaction rows (no ``candidates.retrieval_run``): ``(user, item, rating)``
  for rating regression and rating-threshold engagement. Random splits have no
  validation part, so ``train.validation_fraction`` of the training rows is
  held out for early stopping;
* candidate lists (``candidates.retrieval_run`` set): each user's validation
  item is the target of a list of the retrieval run's top-k unseen items
  (:mod:`tfrec.data.candidate_lists`); ``train.validation_fraction`` of the
  users' lists are held out for early stopping. The retrieval run must have
  the same data config (and seed), so its training split is this one.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

from tfrec.atomic import atomic_file
from tfrec.config import ConfigError, RankingConfig, load_config
from tfrec.data.candidate_lists import CandidateLists, build_candidate_lists
from tfrec.data.pipeline import interaction_dataset
from tfrec.models.ranking import RETRIEVAL_SCORE, RankingModel, build_ranking_model
from tfrec.training.experiment import CONFIG_FILE, WEIGHTS_PREFIX, Experiment

STATS_FILE = "ranking_stats.json"


@dataclasses.dataclass
class RankingExperiment:
    config: RankingConfig
    base: Experiment
    train_rows: pd.DataFrame
    val_rows: pd.DataFrame
    stats: dict = dataclasses.field(default_factory=dict)
    _retrieval: tuple | None = None

    @classmethod
    def prepare(cls, config: RankingConfig, run_dir: str, log=print) -> "RankingExperiment":
        base = Experiment.prepare(config, run_dir, log=log)
        train, val = base.split.train, base.split.val
        if len(val) == 0:
            rng = np.random.default_rng(config.train.seed)
            held = rng.random(len(train)) < config.train.validation_fraction
            train, val = train[~held].reset_index(drop=True), train[held].reset_index(drop=True)
        return cls(config, base, train, val)

    @classmethod
    def from_run(cls, run_dir: str, log=print) -> "RankingExperiment":
        path = os.path.join(run_dir, CONFIG_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{run_dir} is not a trained ranking run: {CONFIG_FILE} is missing")
        exp = cls.prepare(load_config(path, RankingConfig), run_dir, log=log)
        stats_path = os.path.join(run_dir, STATS_FILE)
        if os.path.exists(stats_path):
            with open(stats_path) as f:
                exp.stats = json.load(f)
        return exp

    # -- data ---------------------------------------------------------------------------------
    @property
    def item_ids(self) -> np.ndarray:
        return self.base.item_ids

    @property
    def uses_lists(self) -> bool:
        return self.config.candidates.enabled

    def row_dataset(self, frame: pd.DataFrame, batch_size: int, shuffle_seed: int | None = None):
        """Joined ``(user, item)`` batches with the ``rating`` label."""
        return interaction_dataset(frame, self.base.join, batch_size, shuffle_seed=shuffle_seed,
                                   row_features={"rating": frame.rating.to_numpy(np.float32)})

    def retrieval(self, log=print):
        """``(experiment, model)`` of ``candidates.retrieval_run``, checked to share this run's split."""
        if self._retrieval is None:
            run = self.config.candidates.retrieval_run
            if not run:
                raise ConfigError("candidates.retrieval_run is not set: no retrieval model to take candidates from")
            exp = Experiment.from_run(run, log=log)
            mine, theirs = self.config, exp.config
            if dataclasses.asdict(mine.data) != dataclasses.asdict(theirs.data) or (
                    mine.data.split == "random" and mine.train.seed != theirs.train.seed):
                raise ConfigError(
                    f"candidates.retrieval_run {run} was trained on other data or another split "
                    f"(its data config: {dataclasses.asdict(theirs.data)}, seed {theirs.train.seed}); "
                    "a ranker must share its retrieval model's split")
            self._retrieval = (exp, exp.load_model(run))
        return self._retrieval

    def retrieval_scorer(self, seen: pd.DataFrame, item_ids=None, log=print):
        """Full-catalogue retrieval scores of users, their query made from ``seen`` (histories)."""
        from tfrec.evaluation.embedding_scorer import EmbeddingScorer

        exp, model = self.retrieval(log)
        histories = exp.query_histories(seen)
        kwargs = {"histories": histories} if histories is not None else {}
        return EmbeddingScorer(model, exp.join, self.item_ids if item_ids is None else item_ids, **kwargs)

    def training_lists(self, log=print) -> tuple[CandidateLists, CandidateLists]:
        """Train and validation candidate lists (validation: a share of the users)."""
        c = self.config.candidates
        split = self.base.split
        targets = split.val
        if c.recent_train_positives:
            ordered = split.train.sort_values(["user_id", "timestamp"], kind="stable")
            targets = pd.concat([targets, ordered.groupby("user_id").tail(c.recent_train_positives)],
                                ignore_index=True)
        if len(targets) == 0:
            raise ConfigError("candidate lists need targets: the split has no validation interactions "
                              "(use data.split: temporal) and candidates.recent_train_positives is 0")
        lists = build_candidate_lists(self.retrieval_scorer(split.train, log=log), self.item_ids, targets,
                                      split.train, c.k, c.include_positive)
        log(f"candidate lists: {lists.counts}")
        users = np.unique(lists.user_ids.astype(str))
        rng = np.random.default_rng(self.config.train.seed)
        held = set(users[rng.random(len(users)) < self.config.train.validation_fraction])
        is_val = np.array([u in held for u in lists.user_ids])
        train, val = lists.subset(~is_val), lists.subset(is_val)
        if len(train) == 0 or len(val) == 0:
            raise ConfigError(f"train.validation_fraction {self.config.train.validation_fraction} leaves "
                              f"{len(train)} training and {len(val)} validation lists; both need some")
        scores = train.retrieval_scores
        self.stats = {"retrieval_score_mean": float(scores.mean()), "retrieval_score_std": float(scores.std()),
                      "lists": lists.counts}
        return train, val

    def save_stats(self, run_dir: str) -> None:
        with atomic_file(os.path.join(run_dir, STATS_FILE)) as f:
            json.dump(self.stats, f, indent=2)

    # -- model --------------------------------------------------------------------------------
    def build_model(self) -> RankingModel:
        stats = None
        if self.config.model.use_retrieval_score:
            if "retrieval_score_mean" not in self.stats:
                raise FileNotFoundError(f"the run's {STATS_FILE} (retrieval score statistics) is missing")
            stats = (self.stats["retrieval_score_mean"], self.stats["retrieval_score_std"])
        return build_ranking_model(self.base.dataset, self.base.vocabs, self.config.model, self.train_rows,
                                   retrieval_score_stats=stats)

    def example_pairs(self, n: int = 2) -> dict:
        """A small joined batch of (user, item) pairs, e.g. to build a model's variables."""
        import tensorflow as tf

        rows = self.base.split.train.iloc[:n]
        batch = self.base.join({"user_id": tf.constant(rows.user_id.to_numpy(dtype=str).astype(object)),
                                "item_id": tf.constant(rows.item_id.to_numpy(dtype=str).astype(object))})
        if self.config.model.use_retrieval_score:
            batch[RETRIEVAL_SCORE] = tf.zeros([len(rows)])
        return batch

    def load_model(self, run_dir: str) -> RankingModel:
        """The model with the run's best weights; fails loudly if any weight is missing."""
        model = self.build_model()
        prefix = os.path.join(run_dir, WEIGHTS_PREFIX)
        if not os.path.exists(prefix + ".index"):
            raise FileNotFoundError(f"no trained ranking weights at {prefix} (train the run first)")
        model(self.example_pairs())
        model.load_weights(prefix).assert_existing_objects_matched().expect_partial()
        return model
