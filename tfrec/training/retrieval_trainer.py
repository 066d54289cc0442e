"""Trains the retrieval model of a config with ``model.fit`` and writes a run folder.

A run folder holds ``config.yaml`` (the exact config), ``vocabularies.json``,
``model/weights*`` (the best epoch by validation NDCG), ``tensorboard/``
(scalars and weight histograms) and ``train_summary.json``.
"""

from __future__ import annotations

import json
import os
import time

import tensorflow as tf
import tf_keras as keras

from tfrec.atomic import atomic_file
from tfrec.config import RetrievalConfig, save_config
from tfrec.data.pipeline import interaction_dataset
from tfrec.evaluation.full_ranking import EvaluationSet
from tfrec.training.callbacks import RankingValidation
from tfrec.training.experiment import CONFIG_FILE, WEIGHTS_PREFIX, Experiment
from tfrec.training.strategy import describe, make_strategy

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adagrad": keras.optimizers.Adagrad, "sgd": keras.optimizers.SGD}


def train_retrieval(config: RetrievalConfig, run_dir: str, log=print) -> dict:
    """Fits the model, keeps the best epoch's weights, returns a summary dict."""
    if config.train.optimizer not in OPTIMIZERS:
        raise ValueError(f"train.optimizer must be one of {sorted(OPTIMIZERS)}, got {config.train.optimizer!r}")
    keras.utils.set_random_seed(config.train.seed)
    os.makedirs(run_dir, exist_ok=True)
    exp = Experiment.prepare(config, run_dir, log=log)
    log(exp.dataset.summary())
    if exp.report is not None:
        log(exp.report.format())
    log(f"split {exp.split.method}: {exp.split.sizes()}; vocabulary sizes {exp.vocabs.sizes()}")
    save_config(config, os.path.join(run_dir, CONFIG_FILE))
    exp.vocabs.to_json(os.path.join(run_dir, "vocabularies.json"))

    strategy = make_strategy(config.train.strategy)
    global_batch = config.train.batch_size * strategy.num_replicas_in_sync
    log(f"training on {describe(strategy)}, global batch {global_batch}")
    with strategy.scope():
        model = exp.build_model()
        model.compile(optimizer=OPTIMIZERS[config.train.optimizer](learning_rate=config.train.learning_rate))

    train_ds = interaction_dataset(exp.split.train, exp.join, global_batch, shuffle_seed=config.train.seed,
                                   row_features=exp.train_features())
    k = config.train.monitor_k
    monitor = f"val_ndcg_at_{k}"
    val_set = EvaluationSet.from_frames(
        seen=exp.split.train, target=exp.split.val,
        user_ids=exp.split.val.user_id.unique(), item_ids=exp.item_ids,
    )
    callbacks = [
        RankingValidation(val_set, exp.join, exp.item_ids, k=k, epochs=config.train.epochs, log=log,
                          histories=exp.query_histories(exp.split.train)),
        keras.callbacks.ModelCheckpoint(os.path.join(run_dir, WEIGHTS_PREFIX), monitor=monitor, mode="max",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=config.train.early_stopping_patience,
                                      restore_best_weights=True),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"), histogram_freq=1, profile_batch=0),
    ]
    start = time.time()
    history = model.fit(train_ds, epochs=config.train.epochs, callbacks=callbacks, verbose=config.train.verbose)
    seconds = time.time() - start
    epochs_run = len(history.history["loss"])
    best_epoch = int(tf.argmax(history.history[monitor]).numpy())
    summary = {
        "epochs_run": epochs_run,
        "best_epoch": best_epoch + 1,
        f"best_{monitor}": float(history.history[monitor][best_epoch]),
        "train_seconds": round(seconds, 1),
        "train_examples_per_second": round(epochs_run * len(exp.split.train) / seconds, 1),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }
    with atomic_file(os.path.join(run_dir, "train_summary.json")) as f:
        json.dump(summary, f, indent=2)
    log(f"best epoch {best_epoch + 1}: {monitor} {summary[f'best_{monitor}']:.4f}; "
        f"{epochs_run} epochs in {seconds:.0f}s; weights in {os.path.join(run_dir, WEIGHTS_PREFIX)}")
    return summary
