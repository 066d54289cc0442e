"""The ``tf.distribute`` strategy a config names, and which process of a cluster writes.

``auto`` takes what the machine has: all local GPUs with ``MirroredStrategy``
when there are several, the one GPU when there is one, the default (CPU)
strategy otherwise. ``multi_worker`` (synchronous data parallelism over
machines) and ``parameter_server`` (embedding tables sharded over parameter
servers, for tables too large for one device) read the cluster from the
``TF_CONFIG`` environment variable. Both must be created before TensorFlow
runs anything else in the process (collective ops and servers are set up
when the runtime starts), so the trainer makes the strategy first.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfrec.config.training import STRATEGIES
from tfrec.errors import ConfigError

# Shard an embedding table over the parameter servers once it is larger than this.
DEFAULT_MIN_SHARD_BYTES = 256 << 10


def make_strategy(name: str = "auto", min_shard_bytes: int = DEFAULT_MIN_SHARD_BYTES) -> tf.distribute.Strategy:
    if name not in STRATEGIES:
        raise ValueError(f"train.strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "parameter_server":
        return parameter_server_strategy(min_shard_bytes)
    if name == "multi_worker":
        return _shared("multi_worker", tf.distribute.MultiWorkerMirroredStrategy)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device" if gpus else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return _shared("mirrored", tf.distribute.MirroredStrategy)


_STRATEGIES: dict[str, tf.distribute.Strategy] = {}


def _shared(name: str, factory) -> tf.distribute.Strategy:
    """One instance per process and kind. Two MirroredStrategy instances number their
    collective ops from the same start, so a second training in the same process (a
    notebook, a benchmark loop) would have its all-gathers collide with the first's;
    a multi-worker strategy can only be set up once per process anyway."""
    if name not in _STRATEGIES:
        _STRATEGIES[name] = factory()
    return _STRATEGIES[name]


def cluster_task() -> tuple[str | None, int]:
    """This process's ``(task type, index)`` in ``TF_CONFIG``; ``(None, 0)`` without a cluster."""
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    return task.get("type"), int(task.get("index", 0))


def parameter_server_strategy(min_shard_bytes: int = DEFAULT_MIN_SHARD_BYTES) -> tf.distribute.Strategy:
    """``ParameterServerStrategy`` over the ``TF_CONFIG`` cluster (run by its ``chief``).

    Variables larger than ``min_shard_bytes`` (the embedding tables) are split
    row-wise over up to all parameter servers, so no single machine has to
    hold a whole table. ``worker`` and ``ps`` tasks call
    ``serve_cluster_task()`` instead and never return.
    """
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster = resolver.cluster_spec().as_dict()
    if not cluster.get("ps") or not cluster.get("worker"):
        raise ConfigError("train.strategy 'parameter_server' needs a TF_CONFIG cluster with 'ps' and 'worker' "
                         f"tasks (and a 'chief' that runs the training); got {sorted(cluster) or 'no TF_CONFIG'}")
    if resolver.task_type in ("ps", "worker"):
        raise RuntimeError(f"{resolver.task_type} tasks serve the cluster (serve_cluster_task), "
                           "only the chief builds the strategy")
    partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
        min_shard_bytes=min_shard_bytes, max_shards=len(cluster["ps"]))
    return tf.distribute.ParameterServerStrategy(resolver, variable_partitioner=partitioner)


def serve_cluster_task() -> None:
    """For a ``ps`` or ``worker`` task of a parameter-server cluster: start its server and block."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol=resolver.rpc_layer or "grpc", start=True)
    server.join()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run folder (the only process, or the cluster's chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = bool(resolver.cluster_spec().as_dict().get("chief"))
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def describe(strategy: tf.distribute.Strategy) -> str:
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
