"""Everything a run derives from its config: data, split, vocabularies, feature join, model.

Training, evaluation and export all start from ``Experiment.prepare(config, run_dir)``,
so they see the same split and vocabularies; the run folder stores the config,
the weights and, when the model reads item content, its encoder modules.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

from tfrec.config import RetrievalConfig, load_config
from tfrec.data.history import HISTORY, history_for, latest_items
from tfrec.data.pipeline import FeatureJoin
from tfrec.data.schema import RecDataset, SchemaError
from tfrec.data.sources import load_dataset
from tfrec.data.splits import Split, drop_latest, hold_out_items, make_split
from tfrec.data.vocabulary import Vocabularies, build_vocabularies
from tfrec.models.retrieval import RetrievalModel
from tfrec.models.towers import build_candidate_tower, build_query_tower

CONFIG_FILE = "config.yaml"
WEIGHTS_PREFIX = os.path.join("model", "weights")
ENCODERS_DIR = "encoders"
CONTENT_CACHE_DIR = "content_cache"


@dataclasses.dataclass
class Experiment:
    config: RetrievalConfig
    dataset: RecDataset
    split: Split
    vocabs: Vocabularies
    join: FeatureJoin
    report: object = None
    featurizer: object = None  # ContentFeaturizer when the config reads item content
    cold_test: pd.DataFrame | None = None  # interactions of items held out of training
    cold_items: object = None
    item_vectors: dict | None = None  # cached content vectors, item-table order

    @classmethod
    def prepare(cls, config: RetrievalConfig, run_dir: str, log=print) -> "Experiment":
        """Loads and splits the data and, with content encoders, builds or reuses them in ``run_dir``."""
        dataset, report = load_dataset(config.data)
        interactions, cold = dataset.interactions, {}
        if config.data.cold_item_fraction:
            interactions, cold_test, cold_items = hold_out_items(
                interactions, config.data.cold_item_fraction, seed=config.data.cold_item_seed)
            cold = {"cold_test": cold_test, "cold_items": cold_items}
        interactions = drop_latest(interactions, config.data.drop_latest)
        kwargs = {"test_fraction": config.data.test_fraction} if config.data.split == "random" else {}
        split = make_split(interactions, config.data.split, seed=config.train.seed, **kwargs)
        vocabs = build_vocabularies(split.train, dataset)
        if config.train.warm_start:  # continuous training: the trained run's vocabularies, grown
            from tfrec.training.warm_start import warm_start_vocabularies

            vocabs = warm_start_vocabularies(config, run_dir, vocabs)
        content = config.model.content
        if not content.enabled:
            return cls(config, dataset, split, vocabs, FeatureJoin.build(dataset, split.train), report, **cold)

        from tfrec.models.content import (IMAGE, ContentFeaturizer, encode_catalogue,
                                          export_encoder_modules, modalities, read_image_bytes)

        paths = export_encoder_modules(content, os.path.join(run_dir, ENCODERS_DIR))
        images = (read_image_bytes(dataset.items.image_path) if IMAGE in modalities(content)
                  else [b""] * len(dataset.items))
        featurizer = ContentFeaturizer(paths, trainable=content.mode == "finetune", name="content")
        if content.mode == "cached":
            vectors = encode_catalogue(featurizer, dataset.items, images, content,
                                       os.path.join(run_dir, CONTENT_CACHE_DIR), log=log)
            join = FeatureJoin.build(dataset, split.train, item_vectors=vectors)
            return cls(config, dataset, split, vocabs, join, report, featurizer, item_vectors=vectors, **cold)
        join = FeatureJoin.build(dataset, split.train, images=images)
        return cls(config, dataset, split, vocabs, join, report, featurizer, **cold)

    def with_new_items(self, items: pd.DataFrame, log=print) -> "Experiment":
        """The same experiment with ``items`` added to the catalogue (nothing retrained).

        New items get out-of-vocabulary ids, so they are embedded from their
        content and categories: what makes them recommendable at once.
        """
        clash = items.item_id[items.item_id.isin(self.dataset.items.item_id)]
        if len(clash):
            raise SchemaError(f"{len(clash)} new item id(s) are already in the catalogue, e.g. {list(clash[:3])}")
        catalogue = pd.concat([self.dataset.items, items], ignore_index=True)
        dataset = dataclasses.replace(self.dataset, items=catalogue)
        content = self.config.model.content
        vectors = None
        if not content.enabled:
            join = FeatureJoin.build(dataset, self.split.train)
        else:
            from tfrec.models.content import read_image_bytes, encode_catalogue

            if content.mode == "cached":
                new = encode_catalogue(self.featurizer, items, read_image_bytes(items.image_path), content, log=log)
                vectors = {name: np.concatenate([self.item_vectors[name], new[name]]) for name in new}
                join = FeatureJoin.build(dataset, self.split.train, item_vectors=vectors)
            else:
                join = FeatureJoin.build(dataset, self.split.train, images=read_image_bytes(catalogue.image_path))
        return dataclasses.replace(self, dataset=dataset, join=join, item_vectors=vectors)

    @classmethod
    def from_run(cls, run_dir: str, log=print) -> "Experiment":
        path = os.path.join(run_dir, CONFIG_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{run_dir} is not a trained run: {CONFIG_FILE} is missing")
        return cls.prepare(load_config(path), run_dir, log=log)

    @property
    def item_ids(self):
        """The whole catalogue, in the order of the item table: the retrieval corpus."""
        return self.dataset.items.item_id.to_numpy()

    def seen_before_test(self) -> pd.DataFrame:
        return pd.concat([self.split.train, self.split.val], ignore_index=True)

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
            build_query_tower(self.dataset, self.vocabs, self.split.train.user_id.to_numpy(), m, self.item_vectors),
            build_candidate_tower(self.dataset, self.vocabs, m, self.tower_featurizer()),
            temperature=m.temperature,
            logq_correction=m.logq_correction,
            remove_accidental_hits=m.remove_accidental_hits,
        )

    def tower_featurizer(self):
        """The featurizer the candidate tower runs itself (live encoders), or None (cached or no content)."""
        return self.featurizer if self.config.model.content.mode in ("frozen", "finetune") else None

    def load_model(self, run_dir: str) -> RetrievalModel:
        """The model with the run's best weights; fails loudly if any weight is missing."""
        import tensorflow as tf

        model = self.build_model()
        prefix = os.path.join(run_dir, WEIGHTS_PREFIX)
        if not tf.train.latest_checkpoint(os.path.dirname(prefix)) and not os.path.exists(prefix + ".index"):
            raise FileNotFoundError(f"no trained weights at {prefix} (train the run first)")
        from tfrec.data.pipeline import id_dataset

        batch = next(iter(id_dataset(self.item_ids[:2], "item_id", self.join, 2)))
        batch.update(next(iter(id_dataset(self.split.train.user_id[:2], "user_id", self.join, 2))))
        if self.config.model.history.enabled:
            batch[HISTORY] = tf.fill([2, self.config.model.history.length], "")
        model.query_tower(batch), model.candidate_tower(batch)
        # The checkpoint also holds optimizer slots, which inference does not need.
        model.load_weights(prefix).assert_existing_objects_matched().expect_partial()
        return model
