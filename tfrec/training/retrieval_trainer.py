"""Trains the retrieval model of a config with ``model.fit`` and writes a run folder.

A run folder holds ``config.yaml`` (the exact config), ``vocabularies.json``,
``model/weights*`` (the best epoch by validation NDCG), ``checkpoints/``
(the last ``train.keep_checkpoints`` epochs), ``tensorboard/`` (scalars,
learning rate, weight histograms, the item-embedding projector, optional
profile), ``epoch_logs.json`` and ``train_summary.json``. While training,
``backup/`` holds the state to resume from: rerunning an interrupted run
with the same folder continues at the epoch after the last one finished.

The strategy is made first, before TensorFlow runs anything else (multi-worker
and parameter-server strategies need that); the batch size of the config is
per replica, so the global batch is ``batch_size × replicas``. In a cluster
every worker runs this function with the same arguments and only the chief
writes the run folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrec.atomic import atomic_file
from tfrec.config import RetrievalConfig, save_config
from tfrec.data.pipeline import interaction_dataset
from tfrec.evaluation.full_ranking import EvaluationSet
from tfrec.training.callbacks import LearningRateLogger, RankingValidation
from tfrec.training.checkpoints import CHECKPOINTS_DIR, KeepLastCheckpoints
from tfrec.training.compute import compute_settings
from tfrec.training.experiment import CONFIG_FILE, WEIGHTS_PREFIX, Experiment
from tfrec.training.run_state import BACKUP_DIR, EPOCH_LOG_FILE, EpochLog, ResumeCallbackState, resume_point
from tfrec.training.strategy import cluster_task, describe, is_chief, make_strategy, serve_cluster_task

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adagrad": keras.optimizers.Adagrad, "sgd": keras.optimizers.SGD}
TENSORBOARD_DIR = "tensorboard"


def train_retrieval(config: RetrievalConfig, run_dir: str, log=print) -> dict:
    """Fits the model, keeps the best epoch's weights, returns a summary dict.

    In a parameter-server cluster, ``ps`` and ``worker`` tasks serve the
    cluster here and never return; the chief trains.
    """
    train = config.train
    if train.optimizer not in OPTIMIZERS:
        raise ValueError(f"train.optimizer must be one of {sorted(OPTIMIZERS)}, got {train.optimizer!r}")
    if train.strategy == "parameter_server" and cluster_task()[0] in ("ps", "worker"):
        log(f"serving the parameter-server cluster as {cluster_task()[0]} {cluster_task()[1]}")
        serve_cluster_task()
    strategy = make_strategy(train.strategy, train.ps_min_shard_bytes)
    keras.utils.set_random_seed(train.seed)
    with compute_settings(train.mixed_precision, train.jit_compile):
        return _fit(config, run_dir, strategy, log)


def _fit(config: RetrievalConfig, run_dir: str, strategy: tf.distribute.Strategy, log) -> dict:
    train = config.train
    chief = is_chief(strategy)
    if not chief:
        log = _prefixed(log, f"[{strategy.cluster_resolver.task_type} {strategy.cluster_resolver.task_id}] ")
    os.makedirs(run_dir, exist_ok=True)
    resume = resume_point(run_dir)
    exp = Experiment.prepare(config, run_dir, log=log)
    log(exp.dataset.summary())
    if exp.report is not None:
        log(exp.report.format())
    log(f"split {exp.split.method}: {exp.split.sizes()}; vocabulary sizes {exp.vocabs.sizes()}")
    if chief:
        save_config(config, os.path.join(run_dir, CONFIG_FILE))
        exp.vocabs.to_json(os.path.join(run_dir, "vocabularies.json"))
        if not resume.epochs_done:  # a fresh start: nothing of an earlier run in this folder counts
            shutil.rmtree(os.path.join(run_dir, CHECKPOINTS_DIR), ignore_errors=True)
            if os.path.exists(os.path.join(run_dir, EPOCH_LOG_FILE)):
                os.remove(os.path.join(run_dir, EPOCH_LOG_FILE))

    parameter_server = isinstance(strategy, tf.distribute.ParameterServerStrategy)
    global_batch = train.batch_size * strategy.num_replicas_in_sync
    log(f"training on {describe(strategy)}, global batch {global_batch}"
        + ("; mixed precision" if train.mixed_precision else "") + ("; XLA" if train.jit_compile else ""))
    with strategy.scope():
        model = exp.build_model()
        model.cross_replica_negatives = train.cross_replica_negatives
        model.compile(optimizer=OPTIMIZERS[train.optimizer](learning_rate=train.learning_rate))
        _build(model, exp)
        if train.warm_start and not resume.epochs_done:
            from tfrec.training.warm_start import warm_start_weights

            warm_start_weights(model, train.warm_start, log=log)

    if parameter_server:
        shards = [len(getattr(v, "variables", [v])) for v in _unique(model.trainable_variables)]
        log(f"parameter servers hold {len(shards)} variables, {sum(n > 1 for n in shards)} of them sharded "
            f"(largest in {max(shards)} parts)")
    train_ds = interaction_dataset(exp.split.train, exp.join, global_batch, shuffle_seed=train.seed,
                                   row_features=exp.train_features())
    steps_per_epoch = None
    if parameter_server:  # workers pull batches from an endless dataset; an epoch is a step count
        steps_per_epoch = math.ceil(len(exp.split.train) / global_batch)
        train_ds = train_ds.repeat()
    k = train.monitor_k
    monitor = f"val_ndcg_at_{k}"
    val_set = EvaluationSet.from_frames(
        seen=exp.split.train, target=exp.split.val,
        user_ids=exp.split.val.user_id.unique(), item_ids=exp.item_ids,
    )
    validation = RankingValidation(val_set, exp.join, exp.item_ids, k=k, epochs=train.epochs, log=log,
                                   histories=exp.query_histories(exp.split.train))
    checkpoint = keras.callbacks.ModelCheckpoint(os.path.join(run_dir, WEIGHTS_PREFIX), monitor=monitor,
                                                 mode="max", save_best_only=True, save_weights_only=True)
    early_stopping = keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=train.early_stopping_patience,
                                                   restore_best_weights=True)
    epoch_log = EpochLog(run_dir, resume.logs, chief=chief)
    callbacks = [
        validation,
        LearningRateLogger(),
        checkpoint,
        early_stopping,
        keras.callbacks.TensorBoard(os.path.join(run_dir, TENSORBOARD_DIR), histogram_freq=train.histogram_freq,
                                    profile_batch=train.profile_batch),
        KeepLastCheckpoints(os.path.join(run_dir, CHECKPOINTS_DIR), train.keep_checkpoints, chief=chief),
        epoch_log,  # before the backup, so the logs never lag behind it
    ]
    if train.backup:
        callbacks.append(keras.callbacks.BackupAndRestore(os.path.join(run_dir, BACKUP_DIR)))
    callbacks.append(ResumeCallbackState(resume.logs, monitor, (validation, checkpoint), early_stopping))
    if resume.epochs_done:
        log(f"resuming from {os.path.join(run_dir, BACKUP_DIR)}: {resume.epochs_done} of {train.epochs} "
            "epochs already done")

    start = time.time()
    history = model.fit(train_ds, epochs=train.epochs, callbacks=callbacks, verbose=train.verbose,
                        steps_per_epoch=steps_per_epoch)
    seconds = time.time() - start
    epochs = epoch_log.epochs
    if not epochs:
        raise RuntimeError(f"no epoch finished in {run_dir} (train.epochs is {train.epochs})")
    steps = int(model.optimizer.iterations.numpy())
    prefix = os.path.join(run_dir, WEIGHTS_PREFIX)
    if chief and train.projector:
        model.load_weights(prefix).expect_partial()  # the best epoch, also when it was before a restart
        from tfrec.evaluation.embedding_scorer import candidate_embeddings
        from tfrec.training.projector import write_item_projector

        embeddings = candidate_embeddings(model.candidate_tower, exp.join, exp.item_ids)
        write_item_projector(os.path.join(run_dir, TENSORBOARD_DIR), embeddings, exp.dataset.items)

    scores = [e.get(monitor, -np.inf) for e in epochs]
    best_epoch = int(np.argmax(scores))
    epochs_this_run = len(history.history.get("loss", []))
    summary = {
        "epochs_run": len(epochs),
        "steps": steps,
        "resumed_at_epoch": resume.epochs_done or None,
        "best_epoch": best_epoch + 1,
        f"best_{monitor}": float(scores[best_epoch]),
        "replicas": strategy.num_replicas_in_sync,
        "global_batch": global_batch,
        "train_seconds": round(seconds, 1),
        "train_examples_per_second": round(epochs_this_run * len(exp.split.train) / max(seconds, 1e-9), 1),
        "history": {key: [float(e.get(key, np.nan)) for e in epochs] for key in epochs[-1] if key != "epoch"},
    }
    if chief:
        with atomic_file(os.path.join(run_dir, "train_summary.json")) as f:
            json.dump(summary, f, indent=2)
    log(f"best epoch {best_epoch + 1}: {monitor} {summary[f'best_{monitor}']:.4f}; "
        f"{len(epochs)} epochs ({epochs_this_run} in this run) in {seconds:.0f}s; weights in {prefix}")
    return summary


def _build(model, exp: Experiment) -> None:
    """Creates the towers' and the optimizer's variables before ``fit``.

    BackupAndRestore restores into existing variables, and a warm start
    copies into them.
    """
    rows = exp.split.train.iloc[:2]
    features = exp.train_features()
    row_features = {name: values[:2] for name, values in features.items()} if features else None
    batch = next(iter(interaction_dataset(rows, exp.join, 2, row_features=row_features)))
    model.query_tower(batch)
    model.candidate_tower(batch)
    model.optimizer.build(model.trainable_variables)
    model.built = True


def _unique(variables):
    """Variables once each: the shards of a sharded variable all stand for it."""
    seen, out = set(), []
    for v in variables:
        owner = getattr(v, "_sharded_container", None)
        owner = owner() if callable(owner) else owner
        key = id(owner if owner is not None else v)
        if key not in seen:
            seen.add(key)
            out.append(owner if owner is not None else v)
    return out


def _prefixed(log, prefix: str):
    return lambda message, *args, **kwargs: log(prefix + str(message), *args, **kwargs)
