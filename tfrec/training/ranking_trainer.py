"""Trains the ranking model of a config with ``model.fit`` and writes a run folder.

Same conventions as retrieval training: the config's ``tf.distribute``
strategy, TensorBoard scalars and histograms, the best epoch's weights kept by
``ModelCheckpoint`` and ``EarlyStopping`` on a validation metric (RMSE for
rating, AUC for engagement, NDCG@10 for listwise; ``train.monitor`` picks
another). The run folder holds ``config.yaml``, ``vocabularies.json``,
``model/weights*``, ``tensorboard/``, ``train_summary.json`` and, for
candidate-list training, ``ranking_stats.json``.
"""

from __future__ import annotations

import json
import os
import time

import pandas as pd
import tf_keras as keras

from tfrec.atomic import atomic_file
from tfrec.config import RankingConfig, save_config
from tfrec.models.listwise import ndcg_at_k
from tfrec.models.ranking import ENGAGEMENT, LISTWISE, RATING
from tfrec.training.experiment import CONFIG_FILE, WEIGHTS_PREFIX
from tfrec.training.ranking_experiment import RankingExperiment
from tfrec.training.retrieval_trainer import OPTIMIZERS
from tfrec.training.strategy import describe, make_strategy

# The validation metric each task stops on, and whether it should go up.
MONITORS = {RATING: ("val_rmse", "min"), ENGAGEMENT: ("val_auc", "max"), LISTWISE: ("val_ndcg_at_10", "max")}


def monitor_of(config: RankingConfig) -> tuple[str, str]:
    """``(log name, mode)`` early stopping and checkpoints follow."""
    monitor = config.train.monitor
    if monitor == "auto":
        return MONITORS[next(iter(config.model.tasks))]
    return monitor, "min" if "rmse" in monitor or "loss" in monitor else "max"


class EpochLog(keras.callbacks.Callback):
    """One line per epoch: training loss and the validation metrics."""

    def __init__(self, epochs: int, monitor: str, mode: str, log=print):
        super().__init__()
        self.epochs, self.monitor, self.mode, self.log = epochs, monitor, mode, log
        self.best, self._start = None, None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        marker = ""
        if value is not None and (self.best is None or (value < self.best if self.mode == "min" else value > self.best)):
            self.best, marker = value, "  (best)"
        shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items()
                          if k == "loss" or (k.startswith("val_") and not k.endswith("loss")))
        self.log(f"epoch {epoch + 1}/{self.epochs}  {shown}  {time.time() - self._start:.1f}s{marker}")


def train_ranking(config: RankingConfig, run_dir: str, log=print) -> dict:
    """Fits the ranking model, keeps the best epoch's weights, returns a summary dict."""
    if config.train.optimizer not in OPTIMIZERS:
        raise ValueError(f"train.optimizer must be one of {sorted(OPTIMIZERS)}, got {config.train.optimizer!r}")
    keras.utils.set_random_seed(config.train.seed)
    os.makedirs(run_dir, exist_ok=True)
    exp = RankingExperiment.prepare(config, run_dir, log=log)
    log(exp.base.dataset.summary())
    log(f"split {exp.base.split.method}: {exp.base.split.sizes()}; vocabulary sizes {exp.base.vocabs.sizes()}")
    strategy = make_strategy(config.train.strategy)
    global_batch = config.train.batch_size * strategy.num_replicas_in_sync
    if exp.uses_lists:
        train_lists, val_lists = exp.training_lists(log=log)
        exp.save_stats(run_dir)
        train_ds = train_lists.dataset(exp.base.join, global_batch, shuffle_seed=config.train.seed)
        val_ds = val_lists.dataset(exp.base.join, global_batch)
        examples = len(train_lists)
        log(f"{len(train_lists)} training and {len(val_lists)} validation lists of {config.candidates.k} candidates")
        bar = float(ndcg_at_k(val_lists.engaged, val_lists.retrieval_scores, 10).numpy().mean())
        log(f"validation lists in retrieval order: NDCG@10 {bar:.4f} (what the ranker has to beat)")
    else:
        train_ds = exp.row_dataset(exp.train_rows, global_batch, shuffle_seed=config.train.seed)
        val_ds = exp.row_dataset(exp.val_rows, global_batch)
        examples = len(exp.train_rows)
        log(f"{len(exp.train_rows)} training and {len(exp.val_rows)} validation rows")
    save_config(config, os.path.join(run_dir, CONFIG_FILE))
    exp.base.vocabs.to_json(os.path.join(run_dir, "vocabularies.json"))

    log(f"training on {describe(strategy)}, global batch {global_batch}")

    def compiled_model():
        with strategy.scope():
            model = exp.training_model(train_lists) if exp.uses_lists else exp.build_model()
            model.compile(optimizer=OPTIMIZERS[config.train.optimizer](learning_rate=config.train.learning_rate))
        return model

    model = compiled_model()
    monitor, mode = monitor_of(config)
    callbacks = [
        EpochLog(config.train.epochs, monitor, mode, log),
        keras.callbacks.ModelCheckpoint(os.path.join(run_dir, WEIGHTS_PREFIX), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.train.early_stopping_patience,
                                      restore_best_weights=True),
        keras.callbacks.TensorBoard(os.path.join(run_dir, "tensorboard"), histogram_freq=1, profile_batch=0),
    ]
    start = time.time()
    history = model.fit(train_ds, validation_data=val_ds, epochs=config.train.epochs, callbacks=callbacks,
                        verbose=config.train.verbose)
    seconds = time.time() - start
    if monitor not in history.history:
        raise ValueError(f"train.monitor {monitor!r} is not a logged metric; logged: {sorted(history.history)}")
    values = history.history[monitor]
    best_epoch = min(range(len(values)), key=lambda i: values[i] if mode == "min" else -values[i])
    epochs_run = len(history.history["loss"])
    summary = {
        "validation_retrieval_ndcg_at_10": bar if exp.uses_lists else None,
        "epochs_run": epochs_run,
        "best_epoch": best_epoch + 1,
        f"best_{monitor}": float(values[best_epoch]),
        "train_seconds": round(seconds, 1),
        "train_examples_per_second": round(epochs_run * examples / max(seconds, 1e-9), 1),
        "history": {key: [float(v) for v in vals] for key, vals in history.history.items()},
    }
    if config.train.final_fit:
        # The same seed and schedule as the run that chose the epochs, now with the validation data in.
        if exp.uses_lists:
            everything = train_lists.concat(val_lists).dataset(exp.base.join, global_batch,
                                                               shuffle_seed=config.train.seed)
        else:
            everything = exp.row_dataset(pd.concat([exp.train_rows, exp.val_rows], ignore_index=True),
                                         global_batch, shuffle_seed=config.train.seed)
        keras.utils.set_random_seed(config.train.seed)
        final = compiled_model()
        final_start = time.time()
        final.fit(everything, epochs=best_epoch + 1, verbose=config.train.verbose)
        final.save_weights(os.path.join(run_dir, WEIGHTS_PREFIX))
        summary["final_fit"] = {"epochs": best_epoch + 1, "seconds": round(time.time() - final_start, 1)}
        log(f"final fit: {best_epoch + 1} epoch(s) on training and validation data together "
            f"({summary['final_fit']['seconds']:.0f}s); its weights replace the best epoch's")
    with atomic_file(os.path.join(run_dir, "train_summary.json")) as f:
        json.dump(summary, f, indent=2)
    log(f"best epoch {best_epoch + 1}: {monitor} {values[best_epoch]:.4f}; {epochs_run} epochs in {seconds:.0f}s; "
        f"weights in {os.path.join(run_dir, WEIGHTS_PREFIX)}")
    return summary
