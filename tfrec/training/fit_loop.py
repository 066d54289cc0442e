"""The one ``model.fit`` loop of tfrec, for retrieval and ranking alike.

What every training gets from it, with the same settings (``FitConfig``):

* the best epoch's weights kept in ``model/weights`` (``ModelCheckpoint`` on
  the monitored validation metric) and early stopping on it;
* TensorBoard scalars, learning rate, weight histograms and an optional
  profile in ``tensorboard/``; the last ``keep_checkpoints`` epochs in
  ``checkpoints/``; each epoch's logs in ``epoch_logs.json``;
* resume after a kill: ``backup/`` (``BackupAndRestore``) brings back weights,
  optimizer and epoch, and the logs bring back what the other callbacks
  remembered (:mod:`tfrec.training.run_state`); a fit that had finished is not
  run again (its result is kept in the run's manifest);
* chief-only writes in a cluster (the callbacks' own handling of workers,
  ``chief`` for tfrec's).
"""

from __future__ import annotations

import dataclasses
import time

import tf_keras as keras

from tfrec.config import FitConfig
from tfrec.run_folder import RunFolder
from tfrec.training.callbacks import LearningRateLogger
from tfrec.training.checkpoints import KeepLastCheckpoints
from tfrec.training.run_state import EpochLog, ResumeCallbackState, resume_point

OPTIMIZERS = {"adam": keras.optimizers.Adam, "adagrad": keras.optimizers.Adagrad, "sgd": keras.optimizers.SGD}


def make_optimizer(settings: FitConfig):
    return OPTIMIZERS[settings.optimizer](learning_rate=settings.learning_rate)


@dataclasses.dataclass
class FitResult:
    """What a fit did: every epoch's logs (earlier runs' too, when resumed) and the best one."""

    monitor: str
    mode: str
    epochs: list
    epochs_this_run: int
    resumed_at_epoch: int
    seconds: float
    steps: int

    @property
    def best_index(self) -> int:
        values = [e.get(self.monitor) for e in self.epochs]
        present = [i for i, v in enumerate(values) if v is not None]
        if not present:
            return len(values) - 1
        return (min if self.mode == "min" else max)(present, key=lambda i: values[i])

    @property
    def best_value(self) -> float:
        return float(self.epochs[self.best_index].get(self.monitor, float("nan")))

    def summary(self) -> dict:
        """The part of ``train_summary.json`` every training writes."""
        best = self.best_index
        keys = [k for k in self.epochs[-1] if k != "epoch"]
        return {
            "epochs_run": len(self.epochs),
            "steps": self.steps,
            "resumed_at_epoch": self.resumed_at_epoch or None,
            "best_epoch": best + 1,
            f"best_{self.monitor}": self.best_value,
            "train_seconds": round(self.seconds, 1),
            "history": {k: [float(e.get(k, float("nan"))) for e in self.epochs] for k in keys},
        }


def fit(model, train_ds, run: RunFolder, settings: FitConfig, monitor: str, mode: str, *, claim=None,
        first_callbacks=(), validation_data=None, steps_per_epoch=None, chief: bool = True, log=print) -> FitResult:
    """Fits ``model`` into ``run`` as the module docstring says; returns what it did.

    ``first_callbacks`` run before the others each epoch (a validation callback
    that puts ``monitor`` into the logs); ``claim`` (the run's
    ``TrainingClaim``) remembers a finished fit, so a rerun after a later kill
    does not fit again.
    """
    done = claim.fitted() if claim is not None else None
    if done:
        log(f"the fit had finished ({len(done['epochs'])} epochs); not fitting again")
        return FitResult(**done)
    resume = resume_point(run)
    checkpoint = keras.callbacks.ModelCheckpoint(run.weights_prefix, monitor=monitor, mode=mode,
                                                 save_best_only=True, save_weights_only=True)
    early_stopping = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode,
                                                   patience=settings.early_stopping_patience,
                                                   restore_best_weights=True)
    epoch_log = EpochLog(run, resume.logs, chief=chief)
    callbacks = [
        *first_callbacks,
        LearningRateLogger(),
        checkpoint,
        early_stopping,
        keras.callbacks.TensorBoard(run.tensorboard_dir, histogram_freq=settings.histogram_freq,
                                    profile_batch=settings.profile_batch),
        KeepLastCheckpoints(run.checkpoints_dir, settings.keep_checkpoints, chief=chief),
        epoch_log,  # before the backup, so the logs never lag behind it
    ]
    if settings.backup:
        callbacks.append(keras.callbacks.BackupAndRestore(run.backup_dir))
    remembering = [c for c in (*first_callbacks, checkpoint) if hasattr(c, "best")]
    callbacks.append(ResumeCallbackState(resume.logs, monitor, mode, remembering, early_stopping))
    if resume.epochs_done:
        log(f"resuming from {run.backup_dir}: {resume.epochs_done} of {settings.epochs} epochs already done")
    start = time.time()
    history = model.fit(train_ds, epochs=settings.epochs, callbacks=callbacks, verbose=settings.verbose,
                        steps_per_epoch=steps_per_epoch, validation_data=validation_data)
    if not epoch_log.epochs:
        raise RuntimeError(f"no epoch finished in {run.name} (train.epochs is {settings.epochs})")
    result = FitResult(monitor, mode, epoch_log.epochs, len(history.history.get("loss", [])), resume.epochs_done,
                       time.time() - start, int(model.optimizer.iterations.numpy()))
    if claim is not None:
        claim.mark_fitted(dataclasses.asdict(result))
    return result
