"""Server-side request batching for ``tfrec serve --enable-batching``, the way TF Serving batches.

Concurrent ``Predict`` requests to the same model version and signature are
put in one queue; a batch thread concatenates their inputs along dimension 0,
runs the signature once and splits every output back by rows, so each caller
gets exactly what it would have got alone. Running one batch of ``n`` rows
costs far less than ``n / rows-per-request`` separate calls when the model's
per-call overhead dominates, which is the case for small ranking requests.

Scheduling follows TF Serving's ``BasicBatchScheduler`` and reads the same
``BatchingParameters`` (``batching_parameters.txt``):

- ``max_batch_size``: rows per batch; a request with more rows is refused
  (INVALID_ARGUMENT "Task size N is larger than maximum input batch size M");
- ``batch_timeout_micros``: how long an open batch waits for more requests
  once its first one arrived (0: it runs as soon as a batch thread is free;
  requests that arrive while every thread is busy still share a batch);
- ``num_batch_threads``: threads that run batches;
- ``max_enqueued_batches``: batches a queue may hold (the open one included)
  before a new request is refused with UNAVAILABLE ("The batch scheduling
  queue to which this task was submitted is full"), which clients retry.

A signature is batched only when every input has a batch dimension (known
rank of at least 1); one with a scalar input runs unbatched (TF Serving refuses
to batch rank-0 inputs; no exported signature has one); this is logged once
per signature. Requests are only combined when their inputs agree
on names, dtypes and every dimension after the first. Where TF Serving would
fail the whole batch, this server falls back to running each request alone:
when the model raises an error for a combined batch (so only the bad request
fails) and when an output has no batch dimension to split.
``allowed_batch_sizes`` and ``pad_variable_length_inputs`` are not supported
(a warning says so if they are set).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time

import grpc
import numpy as np
import tensorflow as tf

from tfrec.export.serving_config import BatchingSettings, read_batching_parameters
from tfrec.serving.errors import ServerSettingsError, ServingError

log = logging.getLogger("tfrec.serving")

# TF Serving's defaults (BasicBatchScheduler::Options) for fields a parameters file leaves unset.
TF_SERVING_DEFAULTS = dict(max_batch_size=1000, batch_timeout_micros=0, max_enqueued_batches=10)
WAIT_LIMIT_S = 300.0  # a request never waits longer than this for its batch (a safety bound)


def batching_settings(path: str | None = None) -> BatchingSettings:
    """The settings of a ``batching_parameters.txt`` file, TF Serving's defaults for unset fields (or no file)."""
    values = dict(TF_SERVING_DEFAULTS, num_batch_threads=os.cpu_count() or 1)
    if path is not None:
        proto = read_batching_parameters(path)
        for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
            if proto.HasField(name):
                values[name] = getattr(proto, name).value
        if list(proto.allowed_batch_sizes) or proto.pad_variable_length_inputs:
            log.warning("%s: allowed_batch_sizes and pad_variable_length_inputs are not supported by the "
                        "development server; batches are neither padded nor rounded up", path)
    return BatchingSettings(**values)


def batchable(signature_def) -> bool:
    """Whether every input of ``signature_def`` has a batch dimension (TF Serving's condition for batching)."""
    return all(not info.tensor_shape.unknown_rank and len(info.tensor_shape.dim) >= 1
               for info in signature_def.inputs.values())


@dataclasses.dataclass(eq=False)
class _Task:
    """One request waiting for its batch."""

    feeds: dict
    rows: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    outputs: dict | None = None
    error: BaseException | None = None


@dataclasses.dataclass(eq=False)
class _Queue:
    """The waiting requests of one (servable, signature, input layout): an open batch and closed ones."""

    function: object
    label: str
    open: list = dataclasses.field(default_factory=list)
    open_rows: int = 0
    opened_at: float = 0.0
    closed: collections.deque = dataclasses.field(default_factory=collections.deque)  # (opened_at, tasks)

    def batches(self) -> int:
        return len(self.closed) + (1 if self.open else 0)

    def close_open(self) -> None:
        self.closed.append((self.opened_at, self.open))
        self.open, self.open_rows = [], 0


class RequestBatcher:
    """Batches concurrent requests per model version and signature; ``close()`` stops its threads."""

    def __init__(self, settings: BatchingSettings):
        self.settings = settings
        self.timeout_s = settings.batch_timeout_micros / 1e6
        self._cond = threading.Condition()
        self._queues: dict[tuple, _Queue] = {}
        self._closing = False
        self._logged: set = set()
        self.stats = collections.Counter()  # requests, batches, batched_rows, unbatched
        self._threads = [threading.Thread(target=self._loop, name=f"tfrec-batch-{i}", daemon=True)
                         for i in range(settings.num_batch_threads)]
        for thread in self._threads:
            thread.start()
        log.info("request batching on: max_batch_size %d, batch_timeout_micros %d, num_batch_threads %d, "
                 "max_enqueued_batches %d", settings.max_batch_size, settings.batch_timeout_micros,
                 settings.num_batch_threads, settings.max_enqueued_batches)

    # -- the request side ---------------------------------------------------------------------
    def run(self, servable, signature_key: str, feeds: dict) -> dict[str, np.ndarray]:
        """Every output of ``servable``'s ``signature_key`` on ``feeds`` (name → tensor), batched when it can be."""
        function = servable.functions[signature_key]
        label = f"{servable.name} version {servable.version} signature '{signature_key}'"
        if not batchable(servable.signature_defs[signature_key]):
            self._log_once(label, "has an input without a batch dimension (a scalar); served unbatched, "
                                  "as TF Serving does not batch it either")
            return self._alone(function, feeds)
        rows = {int(value.shape[0]) for value in feeds.values()}
        if len(rows) != 1 or 0 in rows:
            return self._alone(function, feeds)  # unequal or empty batch dimensions: nothing to combine
        task = _Task(feeds, rows.pop())
        if task.rows > self.settings.max_batch_size:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Task size {task.rows} is larger than maximum input batch size "
                               f"{self.settings.max_batch_size} (batching parameters of the server)")
        layout = tuple((name, value.dtype.name, tuple(value.shape[1:])) for name, value in sorted(feeds.items()))
        self._submit((id(function), signature_key, layout), function, label, task)
        if not task.done.wait(WAIT_LIMIT_S):
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED,
                               f"request to {label} waited more than {WAIT_LIMIT_S:.0f}s for its batch")
        if task.error is not None:
            raise task.error
        return task.outputs

    def _submit(self, key: tuple, function, label: str, task: _Task) -> None:
        limit = self.settings.max_batch_size
        with self._cond:
            if self._closing:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(function, label)
            if queue.open and queue.open_rows + task.rows > limit:
                queue.close_open()
            if not queue.open:
                if queue.batches() >= self.settings.max_enqueued_batches:
                    raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                       f"The batch scheduling queue to which this task was submitted is full "
                                       f"({label}: {queue.batches()} batches waiting, max_enqueued_batches "
                                       f"{self.settings.max_enqueued_batches})")
                queue.opened_at = time.monotonic()
            queue.open.append(task)
            queue.open_rows += task.rows
            if queue.open_rows >= limit:
                queue.close_open()
            self.stats["requests"] += 1
            self._cond.notify_all()

    def _alone(self, function, feeds: dict) -> dict[str, np.ndarray]:
        with self._cond:
            self.stats["unbatched"] += 1
        return {alias: value.numpy() for alias, value in function(**feeds).items()}

    def _log_once(self, label: str, message: str) -> None:
        if label not in self._logged:
            self._logged.add(label)
            log.info("%s %s", label, message)

    # -- the batch threads --------------------------------------------------------------------
    def _take(self, now: float):
        """``(queue, tasks, None)``: the ready batch that opened first; else ``(None, None, seconds until
        an open batch is due, or None)``."""
        best, best_at, wake = None, None, None
        for key, queue in self._queues.items():
            if queue.closed:
                at = queue.closed[0][0]
            elif queue.open and now >= queue.opened_at + self.timeout_s:
                at = queue.opened_at
            else:
                if queue.open:
                    due = queue.opened_at + self.timeout_s - now
                    wake = due if wake is None else min(wake, due)
                continue
            if best_at is None or at < best_at:
                best, best_at = key, at
        if best is None:
            return None, None, wake
        queue = self._queues[best]
        if not queue.closed:
            queue.close_open()
        tasks = queue.closed.popleft()[1]
        if not queue.batches():
            del self._queues[best]
        return queue, tasks, None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closing:
                        return
                    queue, tasks, wake = self._take(time.monotonic())
                    if queue is not None:
                        self.stats["batches"] += 1
                        self.stats["batched_rows"] += sum(t.rows for t in tasks)
                        break
                    self._cond.wait(wake)
            self._process(queue, tasks)

    def _process(self, queue: _Queue, tasks: list) -> None:
        """Runs ``tasks`` as one batch and hands each its rows; never raises (errors go to the tasks)."""
        try:
            if len(tasks) == 1:
                self._run_one(queue, tasks[0])
                return
            feeds = {name: tf.concat([t.feeds[name] for t in tasks], axis=0) for name in tasks[0].feeds}
            try:
                outputs = {alias: value.numpy() for alias, value in queue.function(**feeds).items()}
            except tf.errors.OpError:
                outputs = None  # one bad request must not fail the others: run each alone
            total = sum(t.rows for t in tasks)
            if outputs is not None and any(v.ndim == 0 or v.shape[0] != total for v in outputs.values()):
                self._log_once(queue.label, "has an output without a batch dimension; its requests run alone")
                outputs = None
            if outputs is None:
                for task in tasks:
                    self._run_one(queue, task)
                return
            start = 0
            for task in tasks:
                task.outputs = {alias: value[start:start + task.rows] for alias, value in outputs.items()}
                start += task.rows
                task.done.set()
        except BaseException as e:  # noqa: BLE001 - a failure must reach the waiting requests
            for task in tasks:
                if not task.done.is_set():
                    task.error = e
                    task.done.set()

    @staticmethod
    def _run_one(queue: _Queue, task: _Task) -> None:
        try:
            task.outputs = {alias: value.numpy() for alias, value in queue.function(**task.feeds).items()}
        except BaseException as e:  # noqa: BLE001 - handed to the request's thread, which raises it
            task.error = e
        task.done.set()

    # -- shutdown -----------------------------------------------------------------------------
    def close(self, timeout_s: float = 10.0) -> None:
        """Stops the batch threads after their current batch; waiting requests get UNAVAILABLE."""
        with self._cond:
            self._closing = True
            pending = [t for q in self._queues.values() for t in q.open + [t for _, b in q.closed for t in b]]
            self._queues.clear()
            self._cond.notify_all()
        for task in pending:
            task.error = ServingError(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
            task.done.set()
        for thread in self._threads:
            thread.join(timeout_s)
        s = self.stats
        if s["batches"]:
            log.info("request batching: %d requests in %d batches (%.2f requests, %.1f rows per batch); "
                     "%d requests unbatched", s["requests"], s["batches"], s["requests"] / s["batches"],
                     s["batched_rows"] / s["batches"], s["unbatched"])


def batching_from_args(args) -> BatchingSettings | None:
    """The settings ``tfrec serve --enable-batching [--batching-parameters-file F]`` asks for, or None."""
    path = getattr(args, "batching_parameters_file", None)
    if not getattr(args, "enable_batching", False):
        if path is not None:
            raise ServerSettingsError("--batching-parameters-file needs --enable-batching")
        return None
    return batching_settings(path)
