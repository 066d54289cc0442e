"""Callbacks for ``model.fit`` that Keras does not ship.

``RankingValidation`` puts full-ranking validation metrics into the epoch
logs, so EarlyStopping, ModelCheckpoint and TensorBoard act on what we
actually care about (NDCG@K over the whole catalogue) rather than on the
in-batch loss, which falls even while ranking quality stops improving.
It must come before those callbacks in the list. ``LearningRateLogger``
puts the learning rate into the same logs, so TensorBoard plots it.
"""

from __future__ import annotations

import time

import tf_keras as keras

from tfrec.evaluation.embedding_scorer import EmbeddingScorer
from tfrec.evaluation.full_ranking import evaluate


class RankingValidation(keras.callbacks.Callback):
    """Adds ``val_recall_at_K``, ``val_ndcg_at_K`` (and prints one line) every epoch."""

    def __init__(self, eval_set, join, item_ids, k: int = 10, epochs: int | None = None, log=print,
                 histories: dict | None = None):
        super().__init__()
        self.eval_set, self.join, self.item_ids, self.k = eval_set, join, item_ids, k
        self.histories = histories
        self.epochs, self.log = epochs, log
        self.best = None
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        results = evaluate(EmbeddingScorer(self.model, self.join, self.item_ids, histories=self.histories),
                           self.eval_set, ks=(self.k,))
        logs[f"val_recall_at_{self.k}"] = results[f"recall@{self.k}"]
        logs[f"val_ndcg_at_{self.k}"] = results[f"ndcg@{self.k}"]
        ndcg = results[f"ndcg@{self.k}"]
        marker = ""
        if self.best is None or ndcg > self.best:
            self.best, marker = ndcg, "  (best)"
        total = f"/{self.epochs}" if self.epochs else ""
        self.log(
            f"epoch {epoch + 1}{total}  loss {logs.get('loss', float('nan')):.4f}  "
            f"val recall@{self.k} {results[f'recall@{self.k}']:.4f}  ndcg@{self.k} {ndcg:.4f}  "
            f"{time.time() - self._start:.1f}s{marker}"
        )


class EpochPrinter(keras.callbacks.Callback):
    """One line per epoch: training loss and the validation metrics, the best so far marked."""

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


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current ``learning_rate`` to the epoch logs (for TensorBoard).

    A learning-rate schedule is evaluated at the optimizer's step. Put it
    before the TensorBoard callback.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = self.model.optimizer
        rate = optimizer.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(optimizer.iterations)
        logs["learning_rate"] = float(keras.backend.get_value(rate))
