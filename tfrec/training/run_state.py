"""Where an interrupted run stands, so a rerun resumes it instead of starting over.

``tf.keras.callbacks.BackupAndRestore`` (in ``<run>/backup/``) brings back
weights, optimizer state and the epoch counter after a crash or a kill, and
deletes its backup when ``fit`` ends normally. It does not bring back what
the other callbacks remember, so a resumed run would forget its best
validation NDCG: ModelCheckpoint would overwrite the best weights with a
worse epoch, EarlyStopping would restart its patience, and the summary
would count only the epochs after the restart. ``EpochLog`` therefore
writes every epoch's logs to ``<run>/epoch_logs.json`` (before the backup
of that epoch is taken), and ``ResumeCallbackState`` primes those callbacks
from the logs of the epochs the backup holds.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrec.atomic import atomic_file
from tfrec.run_folder import RunFolder
from tfrec.training.checkpoints import latest_checkpoint, verify_checkpoint

_SAVED_EPOCH_KEY = "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"


@dataclasses.dataclass
class ResumePoint:
    """Epochs an interrupted run already finished, and their logs (empty for a fresh start)."""

    epochs_done: int = 0
    logs: list = dataclasses.field(default_factory=list)


def resume_point(run) -> ResumePoint:
    """Reads ``<run>/backup``; a corrupt backup raises ``CorruptCheckpointError`` instead of being restored."""
    run = RunFolder(run)
    backup = run.backup_dir
    prefix = latest_checkpoint(os.path.join(backup, "chief"))
    if prefix is None:
        return ResumePoint()
    verify_checkpoint(prefix, hint=f"delete {backup} to train the run from its start")
    epochs_done = int(tf.train.load_checkpoint(prefix).get_tensor(_SAVED_EPOCH_KEY)) + 1
    logs = read_epoch_logs(run)[:epochs_done]
    return ResumePoint(epochs_done, logs)


def read_epoch_logs(run) -> list[dict]:
    path = RunFolder(run).epoch_log_file
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


class EpochLog(keras.callbacks.Callback):
    """Appends each epoch's logs to ``<run>/epoch_logs.json`` (chief only). Put it before BackupAndRestore."""

    def __init__(self, run, previous: list | None = None, chief: bool = True):
        super().__init__()
        self.path = RunFolder(run).epoch_log_file
        self.epochs = list(previous or [])
        self.chief = chief

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": epoch + 1}
        entry.update({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        self.epochs = [e for e in self.epochs if e["epoch"] <= epoch] + [entry]
        if self.chief:
            with atomic_file(self.path) as f:
                json.dump(self.epochs, f, indent=1)


class ResumeCallbackState(keras.callbacks.Callback):
    """Restores the best value and patience of the monitoring callbacks from earlier epochs' logs.

    Put it last: it must run after EarlyStopping's ``on_train_begin``, which resets.
    """

    def __init__(self, logs: list, monitor: str, mode: str = "max", callbacks=(), early_stopping=None):
        super().__init__()
        self.logs, self.monitor, self.mode = logs, monitor, mode
        self.callbacks, self.early_stopping = list(callbacks), early_stopping

    def on_train_begin(self, logs=None):
        values = [entry[self.monitor] for entry in self.logs if self.monitor in entry]
        if not values:
            return
        best_index = int(np.argmin(values) if self.mode == "min" else np.argmax(values))
        for callback in self.callbacks:
            callback.best = values[best_index]
        es = self.early_stopping
        if es is not None:
            es.best = values[best_index]
            es.best_epoch = best_index
            es.wait = len(values) - 1 - best_index
