"""Everything a ranking run derives from its config: data, split, training rows or lists, model.

Training starts from ``RankingExperiment.prepare(config, run)`` (the raw
data); evaluation and export from ``from_run(run)`` (the run folder alone).
The data, split, vocabularies and feature join are the retrieval side's
(``Experiment``), so a ranker and a retrieval model of the same data config
see the same split; the ranker checks that it does (the splits' fingerprints).

Two kinds of training data:

* interaction rows (no ``candidates.retrieval_run``): ``(user, item, rating)``
  for rating regression and rating-threshold engagement. Random splits have no
  validation part, so ``train.validation_fraction`` of the training rows is
  held out for early stopping;
* candidate lists (``candidates.retrieval_run`` set): each user's validation
  item is the target of a list of the retrieval run's top-k unseen items
  (:mod:`tfrec.data.candidate_lists`). With ``candidates.earlier_items: N``
  those lists stop training, and the training lists come from a retrieval
  model of the same config trained in ``<run>/earlier_retrieval`` on the data
  without each user's latest N training items (nor their validation and test
  items): each of those N items is the target of a list that model retrieves
  from what came before it, so nothing it was trained on is a target. Without
  it, ``train.validation_fraction`` of the users' lists are held out for
  early stopping. The retrieval run must have the same data config (and
  seed), so its training split is this one. A ranker with a history encoder
  reads, for each list, the user's items before its target.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from tfrec.config import RankingConfig, to_dict
from tfrec.data.candidate_lists import CandidateLists, build_candidate_lists
from tfrec.data.history import HISTORY, history_for, latest_items, positions_from_end
from tfrec.data.pipeline import interaction_dataset
from tfrec.errors import ConfigError, RunError
from tfrec.models.ranking import RETRIEVAL_SCORE, RankingModel, build_ranking_model
from tfrec.run_folder import RANKING, RunFolder
from tfrec.training.experiment import Experiment

HELD_OUT_PER_USER = 2  # temporal leave-last-out: each user's validation and test interaction


@dataclasses.dataclass
class RankingExperiment:
    config: RankingConfig
    base: Experiment
    train_rows: pd.DataFrame
    val_rows: pd.DataFrame
    run: RunFolder
    stats: dict = dataclasses.field(default_factory=dict)
    _retrieval: tuple | None = None

    @classmethod
    def prepare(cls, config: RankingConfig, run, log=print) -> "RankingExperiment":
        """From the raw data, for training into ``run``."""
        base = Experiment.prepare(config, run, log=log)
        return cls.assemble(base, RunFolder(run))

    @classmethod
    def from_run(cls, run, log=print) -> "RankingExperiment":
        """The experiment of a finished ranking run, from its folder alone."""
        run = RunFolder(run)
        run.require_finished(RANKING)
        exp = cls.assemble(Experiment.from_run(run, log=log), run)
        exp.stats = run.read_json(run.ranking_stats_file) or {}
        return exp

    @classmethod
    def assemble(cls, base: Experiment, run: RunFolder) -> "RankingExperiment":
        config = base.config
        train, val = base.split.train, base.split.val
        if len(val) == 0:
            rng = np.random.default_rng(config.train.seed)
            held = rng.random(len(train)) < config.train.validation_fraction
            train, val = train[~held].reset_index(drop=True), train[held].reset_index(drop=True)
        return cls(config, base, train, val, run)

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
            try:
                exp = Experiment.from_run(run, log=log)
            except RunError as e:
                raise ConfigError(f"candidates.retrieval_run: {e}") from None
            if exp.data.fingerprint() != self.base.data.fingerprint():
                raise ConfigError(
                    f"candidates.retrieval_run {run} was trained on other data or another split "
                    f"(its split: {exp.split.method}, {exp.split.sizes()}; this one: {self.base.split.method}, "
                    f"{self.base.split.sizes()}); a ranker must share its retrieval model's split: give both "
                    "the same data section and seed, and the same raw files")
            self._retrieval = (exp, exp.load_model(run))
        return self._retrieval

    def user_histories(self, seen: pd.DataFrame) -> dict | None:
        """Each user's latest items in ``seen``, for a ranker that reads history (else None)."""
        length = self.config.model.history.length
        return latest_items(seen, length) if length else None

    def retrieval_scorer(self, seen: pd.DataFrame, item_ids=None, log=print):
        """Full-catalogue retrieval scores of users, their query made from ``seen`` (histories)."""
        from tfrec.evaluation.embedding_scorer import EmbeddingScorer

        exp, model = self.retrieval(log)
        return EmbeddingScorer(model, exp.join, self.item_ids if item_ids is None else item_ids,
                               histories=exp.query_histories(seen))

    def training_lists(self, log=print) -> tuple[CandidateLists, CandidateLists]:
        """Train and validation candidate lists (see ``CandidateConfig.earlier_items``)."""
        c = self.config.candidates
        split = self.base.split
        if len(split.val) == 0:
            raise ConfigError("candidate lists need targets: the split has no validation interactions "
                              "(use data.split: temporal)")
        length = self.config.model.history.length
        val_lists = build_candidate_lists(
            self.retrieval_scorer(split.train, log=log), self.item_ids, split.val, split.train, c.k,
            c.include_positive and not c.earlier_items,
            histories=history_for(split.val, split.train, length) if length else None)
        if c.earlier_items:
            train, val = self.earlier_lists(log), val_lists
        else:
            users = np.unique(val_lists.user_ids.astype(str))
            rng = np.random.default_rng(self.config.train.seed)
            held = set(users[rng.random(len(users)) < self.config.train.validation_fraction])
            is_val = np.array([u in held for u in val_lists.user_ids])
            train, val = val_lists.subset(~is_val), val_lists.subset(is_val)
        log(f"candidate lists: training {train.counts}; validation {val.counts}")
        if len(train) == 0 or len(val) == 0:
            raise ConfigError(f"candidate lists: {len(train)} for training and {len(val)} for validation; "
                              "both need some (train.validation_fraction, candidates.earlier_items)")
        scores = train.retrieval_scores
        self.stats = {"retrieval_score_mean": float(scores.mean()), "retrieval_score_std": float(scores.std()),
                      "lists": {"train": train.counts, "validation": val.counts}}
        return train, val

    def earlier_lists(self, log=print) -> CandidateLists:
        """Lists for each user's latest ``earlier_items`` training items, from a model that never saw them."""
        from tfrec.evaluation.embedding_scorer import EmbeddingScorer

        c = self.config.candidates
        exp, model = self.earlier_retrieval(log)
        train, from_end = positions_from_end(self.base.split.train)
        length = self.config.model.history.length
        lists = None
        # One round per position from the end, so every user has one target per round and the
        # retrieval query is made from exactly the items before that target.
        for position in range(c.earlier_items):
            targets = train[from_end == position]
            before = train[from_end > position]
            scorer = EmbeddingScorer(model, exp.join, self.item_ids, histories=exp.query_histories(before))
            histories = history_for(targets, before, length) if length else None
            round_lists = build_candidate_lists(scorer, self.item_ids, targets.reset_index(drop=True), train, c.k,
                                                c.include_positive, histories=histories)
            lists = round_lists if lists is None else lists.concat(round_lists)
        return lists

    def earlier_retrieval(self, log=print):
        """``(experiment, model)`` of the retrieval config on the data without each user's test,
        validation and latest ``earlier_items`` training interactions, trained into the run
        folder (reused when its config matches)."""
        from tfrec.training.retrieval_trainer import train_retrieval

        exp, _ = self.retrieval(log)
        n = self.config.candidates.earlier_items
        # Without the test and validation interactions too: the earlier model's own validation and
        # test items (for early stopping) then come before every target, never one of them.
        dropped = n + HELD_OUT_PER_USER
        config = dataclasses.replace(exp.config, data=dataclasses.replace(exp.config.data, drop_latest=dropped),
                                     train=dataclasses.replace(exp.config.train, projector=False, warm_start=""))
        run = self.run.earlier_retrieval
        trained = run.finished and to_dict(run.load_config()) == to_dict(config.for_catalogue(len(self.item_ids)))
        if not trained:
            log(f"training the retrieval model on the data as it stood {dropped} interactions per user earlier, "
                f"in {run.name}")
            train_retrieval(config, run, log=lambda line: log(f"  [earlier retrieval] {line}"),
                            overwrite=run.finished)
        earlier = Experiment.from_run(run, log=log)
        return earlier, earlier.load_model(run)

    def save_stats(self) -> None:
        self.run.write_json(self.run.ranking_stats_file, self.stats)

    def earlier_interactions(self) -> pd.DataFrame:
        """The training split without each user's latest ``earlier_items``: what was known before
        every training list's target (the earlier retrieval model's data)."""
        train, from_end = positions_from_end(self.base.split.train)
        return train[from_end >= self.config.candidates.earlier_items].reset_index(drop=True)

    # -- model --------------------------------------------------------------------------------
    def training_model(self, train_lists: CandidateLists, sample_lists: int = 1000) -> RankingModel:
        """A fresh model to train on ``train_lists``: its item-item relations, if any, from the data
        before their targets, standardised over (a sample of) their pairs."""
        model = self.build_model()
        if model.item_item is not None:
            model.item_item.fit(self.earlier_interactions())
            rng = np.random.default_rng(self.config.train.seed)
            sample = train_lists.subset(rng.permutation(len(train_lists))[:sample_lists])
            size = sample.item_ids.shape[1]
            model.item_item.adapt(np.repeat(sample.histories, size, axis=0).astype(str),
                                  sample.item_ids.ravel().astype(str))
        return model

    def build_model(self) -> RankingModel:
        stats = None
        if self.config.model.use_retrieval_score:
            if "retrieval_score_mean" not in self.stats:
                raise RunError(f"{self.run.name}: {os.path.basename(self.run.ranking_stats_file)} (retrieval "
                               "score statistics) is missing")
            stats = (self.stats["retrieval_score_mean"], self.stats["retrieval_score_std"])
        return build_ranking_model(self.base.dataset, self.base.vocabs, self.config.model, self.train_rows,
                                   retrieval_score_stats=stats, item_vectors=self.base.item_vectors)

    def example_pairs(self, n: int = 2) -> dict:
        """A small joined batch of (user, item) pairs, e.g. to build a model's variables."""
        import tensorflow as tf

        rows = self.base.split.train.iloc[:n]
        batch = self.base.join({"user_id": tf.constant(rows.user_id.to_numpy(dtype=str).astype(object)),
                                "item_id": tf.constant(rows.item_id.to_numpy(dtype=str).astype(object))})
        if self.config.model.use_retrieval_score:
            batch[RETRIEVAL_SCORE] = tf.zeros([len(rows)])
        if self.config.model.history.length:
            batch[HISTORY] = tf.fill([len(rows), self.config.model.history.length], "")
        return batch

    def load_model(self, run=None) -> RankingModel:
        """The model with the run's best weights, its item-item relations from the whole training
        split; fails loudly if any weight is missing or does not fit."""
        from tfrec.training.checkpoints import load_trained_weights

        model = self.build_model()
        model(self.example_pairs())
        load_trained_weights(model, RunFolder(run) if run is not None else self.run)
        if model.item_item is not None:
            model.item_item.fit(self.train_rows)  # serve with everything training knew
        return model
