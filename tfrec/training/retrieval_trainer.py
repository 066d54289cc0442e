"""Trains the retrieval model of a config with ``model.fit`` into a run folder.

The run folder (:class:`~tfrec.run_folder.RunFolder`) is claimed first: a
second writer is refused, a finished run is only replaced with ``overwrite``,
and an interrupted one resumes (with the config it was started with) at the
epoch after the last one that finished. The data as trained on, the
vocabularies and the encoders are written into it, so every later command
loads the run from the folder alone. The fit itself is
:func:`tfrec.training.fit_loop.fit`; early stopping and the kept weights follow
full-ranking validation NDCG@``train.monitor_k``.

The strategy is made first, before TensorFlow runs anything else (multi-worker
and parameter-server strategies need that); the batch size of the config is
per replica, so the global batch is ``batch_size × replicas``. In a cluster
every worker runs this function with the same arguments and only the chief
writes the run folder (the others prepare into a scratch folder).
"""

from __future__ import annotations

import math
import os
import tempfile

import tensorflow as tf
import tf_keras as keras

from tfrec.config import RetrievalConfig
from tfrec.data.pipeline import interaction_dataset
from tfrec.errors import ConfigError, DataError
from tfrec.evaluation.full_ranking import EvaluationSet, NothingToRank
from tfrec.run_folder import RETRIEVAL, RunFolder
from tfrec.training.callbacks import RankingValidation
from tfrec.training.compute import compute_settings
from tfrec.training.experiment import Experiment
from tfrec.training.fit_loop import fit, make_optimizer
from tfrec.training.strategy import cluster_task, describe, is_chief, make_strategy, serve_cluster_task


def train_retrieval(config: RetrievalConfig, run_dir, log=print, overwrite: bool = False) -> dict:
    """Fits the model into ``run_dir``, keeps the best epoch's weights, returns the summary.

    In a parameter-server cluster, ``ps`` and ``worker`` tasks serve the
    cluster here and never return; the chief trains.
    """
    train = config.train
    if train.warm_start and RunFolder(train.warm_start).path == RunFolder(run_dir).path:
        raise ConfigError(f"train.warm_start names the run being written ({run_dir}); use a new run folder")
    if train.strategy == "parameter_server" and cluster_task()[0] in ("ps", "worker"):
        log(f"serving the parameter-server cluster as {cluster_task()[0]} {cluster_task()[1]}")
        serve_cluster_task()
    strategy = make_strategy(train.strategy, train.ps_min_shard_bytes)
    keras.utils.set_random_seed(train.seed)
    run = RunFolder(run_dir)
    if is_chief(strategy):
        with run.training(RETRIEVAL, overwrite=overwrite, log=log) as claim, \
                compute_settings(train.mixed_precision, train.jit_compile):
            return _train(config, run, claim, strategy, log)
    resolver = strategy.cluster_resolver
    log = _prefixed(log, f"[{resolver.task_type} {resolver.task_id}] ")
    with tempfile.TemporaryDirectory(prefix="tfrec-worker-") as scratch, \
            compute_settings(train.mixed_precision, train.jit_compile):
        return _train(config, RunFolder(scratch), None, strategy, log)


def _train(config: RetrievalConfig, run: RunFolder, claim, strategy: tf.distribute.Strategy, log) -> dict:
    chief = claim is not None
    exp = Experiment.prepare(config, run, log=log)
    config, train = exp.config, exp.config.train
    log(exp.dataset.summary())
    if exp.report is not None:
        log(exp.report.format())
    log(f"split {exp.split.method}: {exp.split.sizes()}; vocabulary sizes {exp.vocabs.sizes()}")
    val_set = held_out_set(exp, "val")
    held_out_set(exp, "test")  # checked now, so a run that could never be evaluated is not trained
    if chief:
        claim.begin(config, exp.data.fingerprint())
        exp.save(run)

    parameter_server = isinstance(strategy, tf.distribute.ParameterServerStrategy)
    global_batch = train.batch_size * strategy.num_replicas_in_sync
    log(f"training on {describe(strategy)}, global batch {global_batch}"
        + ("; mixed precision" if train.mixed_precision else "") + ("; XLA" if train.jit_compile else ""))
    with strategy.scope():
        model = exp.build_model()
        model.cross_replica_negatives = train.cross_replica_negatives
        model.compile(optimizer=make_optimizer(train))
        _build(model, exp)
        fresh = claim is None or not claim.resuming
        if train.warm_start and fresh:
            from tfrec.training.warm_start import warm_start_weights

            warm_start_weights(model, train.warm_start, log=log)

    if parameter_server:
        shards = [len(getattr(v, "variables", [v])) for v in _unique(model.trainable_variables)]
        log(f"parameter servers hold {len(shards)} variables, {sum(n > 1 for n in shards)} of them sharded "
            f"(largest in {max(shards)} parts)")
    steps_per_epoch = None
    reading = None
    if exp.data.stream is not None:  # shards stream endlessly; an epoch is a step count, the same on every worker
        index, count = _worker(strategy)
        reading = exp.data.stream.shards[index::count]
        log(f"streaming {len(reading)} of {len(exp.data.stream.shards)} training shard(s)")
        train_ds = exp.train_dataset(global_batch, train.seed, (index, count))
        steps_per_epoch = math.ceil(exp.data.num_train / global_batch)
    else:
        train_ds = exp.train_dataset(global_batch, train.seed)
        if parameter_server:  # workers pull batches from an endless dataset; an epoch is a step count
            steps_per_epoch = math.ceil(exp.data.num_train / global_batch)
            train_ds = train_ds.repeat()
    k = train.monitor_k
    validation = RankingValidation(val_set, exp.join, exp.item_ids, k=k, epochs=train.epochs, log=log,
                                   histories=exp.query_histories(exp.split.train))
    result = fit(model, train_ds, run, train, f"val_ndcg_at_{k}", "max", claim=claim, first_callbacks=[validation],
                 steps_per_epoch=steps_per_epoch, chief=chief, log=log)
    if chief and train.projector:
        model.load_weights(run.weights_prefix).expect_partial()  # the best epoch, also when it was before a restart
        from tfrec.evaluation.embedding_scorer import candidate_embeddings
        from tfrec.training.projector import write_item_projector

        embeddings = candidate_embeddings(model.candidate_tower, exp.join, exp.item_ids)
        write_item_projector(run.tensorboard_dir, embeddings, exp.dataset.items)

    summary = result.summary()
    if reading is not None:
        summary["training_shards"] = [os.path.basename(f) for f in reading]
    summary.update(replicas=strategy.num_replicas_in_sync, global_batch=global_batch,
                   train_examples_per_second=round(result.epochs_this_run * exp.data.num_train
                                                   / max(result.seconds, 1e-9), 1))
    if chief:
        claim.finish(summary)
    log(f"best epoch {summary['best_epoch']}: {result.monitor} {result.best_value:.4f}; {len(result.epochs)} "
        f"epochs ({result.epochs_this_run} in this run) in {result.seconds:.0f}s; weights in {run.weights_prefix}")
    return summary


def held_out_set(exp: Experiment, part: str) -> EvaluationSet:
    """The full-ranking set of the ``val`` or ``test`` split, or a ``DataError`` saying what the data lacks."""
    split = exp.split
    seen = split.train if part == "val" else exp.seen_before_test()
    target = getattr(split, part)
    target = target[target.user_id.isin(set(exp.evaluation_users(part)))]
    name = "validation" if part == "val" else "test"
    if not len(target):
        if exp.config.data.split == "random":
            fix = ("set data.val_fraction (e.g. 0.1): retrieval stops early on validation" if part == "val"
                   else "raise data.test_fraction")
            raise DataError(f"the random split left no {name} interactions ({len(exp.dataset.interactions):,} "
                            f"interactions in all); {fix}")
        counts = exp.dataset.interactions.groupby("user_id").size()
        raise DataError(f"the temporal split left no {name} interactions: leave-last-out holds out a user's last "
                        "two interactions only when the user has at least 3, and the "
                        f"{len(counts):,} user(s) here have at most {int(counts.max()) if len(counts) else 0}; "
                        "give more interactions per user, or use data.split: random with data.val_fraction")
    try:
        return EvaluationSet.from_frames(seen=seen, target=target, user_ids=target.user_id.unique(),
                                         item_ids=exp.item_ids)
    except NothingToRank as e:
        raise DataError(f"nothing to rank in the {name} split: {e}; every {name} item is one its user already "
                        f"had in training, or is not in the catalogue ({len(exp.item_ids):,} item(s)), and seen "
                        "items are never recommended") from None


def _worker(strategy) -> tuple[int, int]:
    """``(index, count)`` of this process among the workers that read training files."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    readers = [(kind, i) for kind in ("chief", "worker") for i in range(len(cluster.get(kind, [])))]
    if len(readers) < 2:
        return 0, 1
    return readers.index((resolver.task_type, resolver.task_id)), len(readers)


def _build(model, exp: Experiment) -> None:
    """Creates the towers' and the optimizer's variables before ``fit``.

    BackupAndRestore restores into existing variables, and a warm start
    copies into them.
    """
    features = exp.train_features()
    rows = exp.split.train.iloc[:2] if features else exp.dataset.interactions.iloc[:2]
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

