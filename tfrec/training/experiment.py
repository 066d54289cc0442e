"""Everything a run derives from its config: data, split, vocabularies, feature join, model.

Training builds an ``Experiment`` from the raw data (``prepare``) and keeps
what it derived in the run folder (``save``: the data as trained on, the
vocabularies; the encoder modules are written there as they are built).
Evaluation, export, ranking and ``index add`` rebuild the same experiment
from the run folder alone (``from_run``): the raw files are never read again,
so they may change or move, and those commands skip the data load.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tfrec.cache import cache_dir
from tfrec.config import RetrievalConfig
from tfrec.data.history import HISTORY, history_for, latest_items
from tfrec.data.pipeline import FeatureJoin
from tfrec.data.schema import SchemaError
from tfrec.data.sources import load_dataset
from tfrec.data.splits import split_as_configured
from tfrec.data.trained_data import TrainedData
from tfrec.data.vocabulary import Vocabularies, vocabularies_from_counts
from tfrec.errors import RunError
from tfrec.models.retrieval import RetrievalModel
from tfrec.models.towers import build_candidate_tower, build_query_tower
from tfrec.run_folder import RunFolder


@dataclasses.dataclass
class Experiment:
    config: RetrievalConfig
    data: TrainedData
    vocabs: Vocabularies
    join: FeatureJoin
    report: object = None
    featurizer: object = None  # ContentFeaturizer when the config reads item content

    dataset = property(lambda self: self.data.dataset)
    split = property(lambda self: self.data.split)
    cold_test = property(lambda self: self.data.cold_test)  # interactions of items held out of training
    cold_items = property(lambda self: self.data.cold_items)
    item_vectors = property(lambda self: self.data.item_vectors)  # cached content vectors, item-table order

    @classmethod
    def prepare(cls, config, run, log=print) -> "Experiment":
        """From the raw data: load, hold cold items out, split, vocabularies and, with content
        encoders, the encoders (built into the run's ``encoders/``) and the items' content.

        ``config`` is checked against the catalogue on the way (k settings); the
        experiment carries the checked one, which is what the run saves.
        """
        run = RunFolder(run)
        log(f"preparing the {config.data.source} data")
        if config.data.sharded:
            data, report = cls._sharded(config, log), None
        else:
            data, report = cls._in_memory(config, log)
        dataset = data.dataset
        config = config.for_catalogue(len(dataset.items), log=log)
        vocabs = vocabularies_from_counts(data.user_counts, data.item_counts, dataset,
                                          config.data.vocabulary.min_count, config.data.vocabulary.max_size)
        if vocabs.empty():
            log(f"left out of the model, no values in the training data: {', '.join(vocabs.empty())}")
        if getattr(config.train, "warm_start", ""):  # continuous training: the trained run's vocabularies, grown
            from tfrec.training.warm_start import warm_start_vocabularies

            vocabs = warm_start_vocabularies(config, run, vocabs)
        featurizer = None
        content = config.model.content
        if content.enabled:
            from tfrec.models.content import (
                IMAGE,
                encode_catalogue,
                export_encoder_modules,
                modalities,
                read_image_bytes,
            )

            featurizer = _featurizer(content, export_encoder_modules(content, run.encoders_dir, log=log))
            images = (read_image_bytes(dataset.items.image_path) if IMAGE in modalities(content)
                      else [b""] * len(dataset.items))
            if content.mode == "cached":
                vectors = encode_catalogue(featurizer, dataset.items, images, content, cache_dir("content"), log=log)
                data = dataclasses.replace(data, item_vectors=vectors)
            else:
                data = dataclasses.replace(data, images=images)
        return cls.assemble(config, data, vocabs, report, featurizer)

    @staticmethod
    def _in_memory(config, log=print) -> tuple[TrainedData, object]:
        dataset, report = load_dataset(config.data, log=log)
        split, cold = split_as_configured(dataset.interactions, config.data, config.train.seed)
        return TrainedData(dataset, split, **cold), report

    @staticmethod
    def _sharded(config, log) -> TrainedData:
        from tfrec.data.sharded import ShardedDataset, training_data

        return training_data(ShardedDataset.open(config.data.path), config.data.eval_users, config.train.seed, log)

    @classmethod
    def from_run(cls, run, log=print) -> "Experiment":
        """The experiment of a finished run, from its folder alone."""
        run = RunFolder(run)
        run.require_finished()
        config = run.load_config()
        data = TrainedData.load(run.data_dir)
        vocabs = Vocabularies.from_json(run.vocabularies_file)
        featurizer = None
        if config.model.content.enabled:
            from tfrec.models.content import modalities

            featurizer = _featurizer(config.model.content,
                                     {m: run.encoder_module(m) for m in modalities(config.model.content)})
        return cls.assemble(config, data, vocabs, None, featurizer)

    @classmethod
    def assemble(cls, config, data: TrainedData, vocabs: Vocabularies, report=None, featurizer=None) -> "Experiment":
        join = FeatureJoin.build(data.dataset, data.item_counts, item_vectors=data.item_vectors, images=data.images)
        return cls(config, data, vocabs, join, report, featurizer)

    def save(self, run) -> None:
        """Writes the data as trained on and the vocabularies into the run folder."""
        run = RunFolder(run)
        self.data.save(run.data_dir)
        self.vocabs.to_json(run.vocabularies_file)

    def new_items_content(self, items: pd.DataFrame, log=print) -> dict:
        """What the model reads of new ``items`` beyond the table: their cached content vectors
        (``vectors``) or their image bytes (``images``, for live encoders); empty without content."""
        content = self.config.model.content
        if not content.enabled:
            return {}
        from tfrec.models.content import encode_catalogue, read_image_bytes

        images = read_image_bytes(items.image_path)
        if content.mode == "cached":
            return {"vectors": encode_catalogue(self.featurizer, items, images, content, log=log)}
        return {"images": images}

    def with_new_items(self, items: pd.DataFrame, content: dict | None = None, log=print) -> "Experiment":
        """The same experiment with ``items`` added to the catalogue (nothing retrained).

        New items get out-of-vocabulary ids, so they are embedded from their
        content and categories: what makes them recommendable at once.
        ``content`` is their :meth:`new_items_content` (computed when not given).
        """
        clash = items.item_id[items.item_id.isin(self.dataset.items.item_id)]
        if len(clash):
            raise SchemaError(f"{len(clash)} new item id(s) are already in the catalogue, e.g. {list(clash[:3])}")
        if content is None:
            content = self.new_items_content(items, log=log)
        data = self.data.with_items(items, **content)
        return self.assemble(self.config, data, self.vocabs, self.report, self.featurizer)

    @property
    def item_ids(self):
        """The whole catalogue, in the order of the item table: the retrieval corpus."""
        return self.dataset.items.item_id.to_numpy()

    def every_interaction(self) -> pd.DataFrame:
        """``(user_id, item_id)`` of every interaction of the data set: what an export excludes as seen.

        A sharded data set's are streamed from its shards (which must be the
        ones the run was trained on); the ids are interned, so the frame
        holds references, not a string per row.
        """
        stream = self.data.stream
        if stream is None:
            return self.dataset.interactions[["user_id", "item_id"]]
        from tfrec.data.sharded import PARTS, ShardedDataset

        data = ShardedDataset.open(stream.folder)
        if data.fingerprint != stream.fingerprint:
            raise RunError(f"the sharded data set {stream.folder} changed since the run was trained on it; "
                           "export needs its interactions (the seen items): train the run again, or set "
                           "export.exclude_seen: false")
        interned: dict[str, str] = {}
        users, items = [], []
        for part in PARTS:
            for batch in data.batches(part):
                users.append(np.array([interned.setdefault(u, u) for u in batch["user_id"]], dtype=object))
                items.append(np.array([interned.setdefault(i, i) for i in batch["item_id"]], dtype=object))
        return pd.DataFrame({"user_id": np.concatenate(users) if users else np.array([], object),
                             "item_id": np.concatenate(items) if items else np.array([], object)})

    def seen_before_test(self) -> pd.DataFrame:
        return pd.concat([self.split.train, self.split.val], ignore_index=True)

    def train_dataset(self, global_batch: int, seed: int, worker: tuple[int, int] = (0, 1)):
        """Shuffled, joined training batches: the in-memory split, or the shards streamed (endless, each
        worker ``(index, count)`` reading its own files)."""
        from tfrec.data.pipeline import interaction_dataset, shard_dataset

        stream = self.data.stream
        if stream is None:
            return interaction_dataset(self.split.train, self.join, global_batch, shuffle_seed=seed,
                                       row_features=self.train_features())
        return shard_dataset(stream.shards, self.join, global_batch, seed, self.config.data.shuffle_buffer, *worker)

    def evaluation_users(self, part: str) -> np.ndarray:
        """The users validation (``val``) or test ranks the catalogue for: every one with a target, or the
        seeded sample of ``data.eval_users`` of them (a sharded data set holds only its sample)."""
        users = np.sort(pd.unique(getattr(self.split, part).user_id.to_numpy(object)))
        size = self.config.data.eval_users
        if self.data.stream is not None or not size or len(users) <= size:
            return users
        return np.sort(np.random.default_rng(self.config.train.seed).choice(users, size=size, replace=False))

    def train_features(self) -> dict | None:
        """Per-row features of the training split beyond the ids: each row's history, when read."""
        length = self.config.model.history.length
        if not length:
            return None
        return {HISTORY: history_for(self.split.train, self.split.train.iloc[:0], length)}

    def query_histories(self, seen: pd.DataFrame) -> dict | None:
        """Each user's latest items in ``seen``: the history a query is made with, when read."""
        length = self.config.model.history.length
        return latest_items(seen, length) if length else None

    def build_model(self) -> RetrievalModel:
        m = self.config.model
        return RetrievalModel(
            build_query_tower(self.dataset, self.vocabs, self.data.user_counts.index.to_numpy(), m, self.item_vectors),
            build_candidate_tower(self.dataset, self.vocabs, m, self.tower_featurizer()),
            temperature=m.temperature,
            logq_correction=m.logq_correction,
            remove_accidental_hits=m.remove_accidental_hits,
        )

    def tower_featurizer(self):
        """The featurizer the candidate tower runs itself (live encoders), or None (cached or no content)."""
        return self.featurizer if self.config.model.content.mode in ("frozen", "finetune") else None

    def load_model(self, run) -> RetrievalModel:
        """The model with the run's best weights; fails loudly if any weight is missing or does not fit."""
        import tensorflow as tf

        from tfrec.data.pipeline import id_dataset
        from tfrec.training.checkpoints import load_trained_weights

        run = RunFolder(run)
        model = self.build_model()
        batch = next(iter(id_dataset(self.item_ids[:2], "item_id", self.join, 2)))
        batch.update(next(iter(id_dataset(self.dataset.users.user_id[:2], "user_id", self.join, 2))))
        if self.config.model.history.enabled:
            batch[HISTORY] = tf.fill([2, self.config.model.history.length], "")
        model.query_tower(batch), model.candidate_tower(batch)
        load_trained_weights(model, run)
        return model


def _featurizer(content, module_paths: dict):
    from tfrec.models.content import ContentFeaturizer

    return ContentFeaturizer(module_paths, trainable=content.mode == "finetune", name="content")
