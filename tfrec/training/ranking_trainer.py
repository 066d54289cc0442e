"""Trains the ranking model of a config with ``model.fit`` into a run folder.

The same conventions as retrieval training, through the same fit loop
(:func:`tfrec.training.fit_loop.fit`): the run folder claimed first (one
writer; ``overwrite`` to replace a finished run; an interrupted run resumes
with the config it was started with), the config's ``tf.distribute``
strategy, TensorBoard, the best epoch's weights kept by early stopping on a
validation metric (RMSE for rating, AUC for engagement, NDCG@10 for listwise;
``train.monitor`` picks another), epoch checkpoints and resume after a kill.
The run folder also holds ``ranking_stats.json`` for candidate-list training.
"""

from __future__ import annotations

import tempfile
import time

import pandas as pd
import tf_keras as keras

from tfrec.config import RankingConfig
from tfrec.models.listwise import ndcg_at_k
from tfrec.run_folder import RANKING, RunFolder
from tfrec.training.callbacks import EpochPrinter
from tfrec.training.fit_loop import fit, make_optimizer
from tfrec.training.ranking_experiment import RankingExperiment
from tfrec.training.strategy import describe, is_chief, make_strategy


def train_ranking(config: RankingConfig, run_dir, log=print, overwrite: bool = False) -> dict:
    """Fits the ranking model into ``run_dir``, keeps the best epoch's weights, returns the summary."""
    strategy = make_strategy(config.train.strategy)
    keras.utils.set_random_seed(config.train.seed)
    run = RunFolder(run_dir)
    if is_chief(strategy):
        with run.training(RANKING, overwrite=overwrite, log=log) as claim:
            return _train(config, run, claim, strategy, log)
    with tempfile.TemporaryDirectory(prefix="tfrec-worker-") as scratch:  # only the chief writes the run
        return _train(config, RunFolder(scratch), None, strategy, log)


def _train(config: RankingConfig, run: RunFolder, claim, strategy, log) -> dict:
    exp = RankingExperiment.prepare(config, run, log=log)
    config, train = exp.config, exp.config.train
    log(exp.base.dataset.summary())
    log(f"split {exp.base.split.method}: {exp.base.split.sizes()}; vocabulary sizes {exp.base.vocabs.sizes()}")
    if claim is not None:
        claim.begin(config, exp.base.data.fingerprint())
        exp.base.save(run)
    global_batch = train.batch_size * strategy.num_replicas_in_sync
    bar = None
    if exp.uses_lists:
        train_lists, val_lists = exp.training_lists(log=log)
        exp.save_stats()
        train_ds = train_lists.dataset(exp.base.join, global_batch, shuffle_seed=train.seed)
        val_ds = val_lists.dataset(exp.base.join, global_batch)
        examples = len(train_lists)
        log(f"{len(train_lists)} training and {len(val_lists)} validation lists of {config.candidates.k} candidates")
        bar = float(ndcg_at_k(val_lists.engaged, val_lists.retrieval_scores, 10).numpy().mean())
        log(f"validation lists in retrieval order: NDCG@10 {bar:.4f} (what the ranker has to beat)")
    else:
        train_ds = exp.row_dataset(exp.train_rows, global_batch, shuffle_seed=train.seed)
        val_ds = exp.row_dataset(exp.val_rows, global_batch)
        examples = len(exp.train_rows)
        log(f"{len(exp.train_rows)} training and {len(exp.val_rows)} validation rows")
    log(f"training on {describe(strategy)}, global batch {global_batch}")

    def compiled_model():
        with strategy.scope():
            model = exp.training_model(train_lists) if exp.uses_lists else exp.build_model()
            model.compile(optimizer=make_optimizer(train))
            model(exp.example_pairs())  # variables (and the optimizer's) before a backup is restored into them
            model.optimizer.build(model.trainable_variables)
        return model

    monitor, mode = config.monitor()
    result = fit(compiled_model(), train_ds, run, train, monitor, mode, claim=claim, validation_data=val_ds,
                 first_callbacks=[EpochPrinter(train.epochs, monitor, mode, log)], chief=claim is not None, log=log)
    summary = {"validation_retrieval_ndcg_at_10": bar, **result.summary(),
               "train_examples_per_second": round(result.epochs_this_run * examples / max(result.seconds, 1e-9), 1)}
    best_epoch = result.best_index + 1
    if train.final_fit:
        # The same seed and schedule as the run that chose the epochs, now with the validation data in.
        if exp.uses_lists:
            everything = train_lists.concat(val_lists).dataset(exp.base.join, global_batch, shuffle_seed=train.seed)
        else:
            everything = exp.row_dataset(pd.concat([exp.train_rows, exp.val_rows], ignore_index=True),
                                         global_batch, shuffle_seed=train.seed)
        keras.utils.set_random_seed(train.seed)
        final = compiled_model()
        final_start = time.time()
        final.fit(everything, epochs=best_epoch, verbose=train.verbose)
        final.save_weights(run.weights_prefix)
        summary["final_fit"] = {"epochs": best_epoch, "seconds": round(time.time() - final_start, 1)}
        log(f"final fit: {best_epoch} epoch(s) on training and validation data together "
            f"({summary['final_fit']['seconds']:.0f}s); its weights replace the best epoch's")
    if claim is not None:
        claim.finish(summary)
    log(f"best epoch {best_epoch}: {monitor} {result.best_value:.4f}; {len(result.epochs)} epochs in "
        f"{result.seconds:.0f}s; weights in {run.weights_prefix}")
    return summary
