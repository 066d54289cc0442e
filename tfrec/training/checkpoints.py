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

import collections
import os
import shutil
import tempfile

import tensorflow as tf
import tf_keras as keras

from tfrec.errors import RunError

VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


class CorruptCheckpointError(RunError):
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


def variable_paths(root) -> dict[int, str]:
    """``id(variable)`` → its key in a checkpoint of ``root`` (the object path ``save_weights`` uses)."""
    view = tf.train.TrackableView(root)
    paths, seen = {}, {id(root)}
    queue = collections.deque([(root, "")])
    while queue:
        obj, path = queue.popleft()
        for name, child in view.children(obj).items():
            if id(child) in seen:
                continue
            seen.add(id(child))
            child_path = f"{path}/{name}" if path else name
            if isinstance(child, tf.Variable):
                paths[id(child)] = child_path + VALUE_SUFFIX
            queue.append((child, child_path))
    return paths


def load_trained_weights(model, run) -> None:
    """Restores a run's best weights into the built ``model``.

    Every variable's shape is checked against the checkpoint first: an
    embedding table whose row count differs from the run's vocabularies means
    the run's files do not belong together, which is reported by name instead
    of loading weights onto other ids.
    """
    prefix = run.weights_prefix
    if not tf.io.gfile.exists(prefix + ".index"):
        raise RunError(f"no trained weights at {prefix} (train the run first)")
    verify_checkpoint(prefix, hint="train the run again")
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    paths = variable_paths(model)
    for variable in model.variables:
        key = paths.get(id(variable))
        if key in shapes and tuple(shapes[key]) != tuple(variable.shape):
            raise RunError(f"{run.name}: {key.removesuffix(VALUE_SUFFIX)} has shape {tuple(shapes[key])} in the "
                           f"weights but {tuple(variable.shape)} from the run's vocabularies and data: the run's "
                           "files do not belong together (train it again)")
    # The checkpoint also holds optimizer slots, which inference does not need.
    model.load_weights(prefix).assert_existing_objects_matched().expect_partial()


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
