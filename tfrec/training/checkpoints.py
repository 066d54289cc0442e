"""Epoch checkpoints (the last N kept) and a check that a checkpoint is whole before it is used.

``KeepLastCheckpoints`` saves model and optimizer after every epoch into
``<run>/checkpoints/epoch-<n>`` through ``tf.train.CheckpointManager``,
which deletes all but the newest ``keep``: a history to roll back to that
does not grow without bound. ``verify_checkpoint`` reads every tensor of a
checkpoint (TensorFlow checks each tensor's CRC32C as it reads), so a
truncated or overwritten file is reported by name before anything is
restored from it, instead of failing half-way through a restore.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf
import tf_keras as keras

CHECKPOINTS_DIR = "checkpoints"


class CorruptCheckpointError(RuntimeError):
    """A checkpoint exists but cannot be read back whole; it was not loaded."""


def verify_checkpoint(prefix: str, hint: str = "") -> None:
    """Raises ``CorruptCheckpointError`` unless every tensor of checkpoint ``prefix`` reads back intact."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as e:  # noqa: BLE001  (the reader raises OpError, IndexError, ValueError ...)
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CorruptCheckpointError(
            f"checkpoint {prefix} is corrupt or incomplete and was not loaded ({detail})"
            + (f"; {hint}" if hint else "")) from None


def latest_checkpoint(folder: str) -> str | None:
    """The newest checkpoint prefix in ``folder`` by its ``checkpoint`` file, else by the files present."""
    prefix = tf.train.latest_checkpoint(folder)
    if prefix:
        return prefix
    if not tf.io.gfile.isdir(folder):
        return None
    indexes = sorted(tf.io.gfile.glob(os.path.join(folder, "*.index")), key=os.path.getmtime)
    return indexes[-1][: -len(".index")] if indexes else None


class KeepLastCheckpoints(keras.callbacks.Callback):
    """Saves model + optimizer every epoch as ``epoch-<n>``, keeping the newest ``keep``.

    In a multi-worker cluster every worker saves (a save may need the
    other workers), but only the chief into ``folder``; the others write to
    a scratch folder that is removed again.
    """

    def __init__(self, folder: str, keep: int = 3, chief: bool = True):
        super().__init__()
        if keep < 1:
            raise ValueError(f"train.keep_checkpoints must be at least 1, got {keep}")
        self.folder, self.keep, self.chief = folder, keep, chief
        self._manager = None

    def on_train_begin(self, logs=None):
        folder = self.folder if self.chief else tempfile.mkdtemp(prefix="tfrec-worker-ckpt-")
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.model.optimizer)
        self._manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=self.keep,
                                                   checkpoint_name="epoch")

    def on_epoch_end(self, epoch, logs=None):
        self._manager.save(checkpoint_number=epoch + 1)

    def on_train_end(self, logs=None):
        if not self.chief and self._manager is not None:
            shutil.rmtree(self._manager.directory, ignore_errors=True)
