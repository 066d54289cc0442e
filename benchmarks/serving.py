"""Recommend latency and throughput over gRPC, next to the in-process call of the same SavedModel.

Serves a retrieval SavedModel with ``tfrec serve`` in a separate process and
calls it from 1, 8 and 32 concurrent client threads (one channel each), then
calls the same SavedModel's signature in this process from the same numbers
of threads. Prints p50/p95/p99 latency, requests per second, and the gRPC
overhead as the ratio of the gRPC p50 to the in-process p50.

The model is either a trained run (``--run``, exported first) or a synthetic
retrieval model with the export's signature (``user_id`` [B], ``k`` scalar →
``item_ids``, ``scores``): a user-embedding table and a TFRS ``BruteForce``
index over ``--items`` random item vectors, so the index cost of a large
catalogue (``--items 1000000``) is measured without training anything.

    python benchmarks/serving.py [--run RUN] [--items 1000] [--dim 32] [--batch 1] [--k 10]
                                 [--clients 1,8,32] [--seconds 3]

Every measurement is bounded by ``--seconds`` and ``--max-requests``; the
whole run by ``--budget-seconds``. Server-side batching is not measured: the
retrieval signature's scalar ``k`` cannot be batched by TF Serving, and the
development server does not batch.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from tfrec.serving.client import ServingClient


class SyntheticRetrieval(tf.Module):
    """The retrieval signature over random user and item vectors (benchmark stand-in for a trained run)."""

    def __init__(self, num_users: int, num_items: int, dim: int, max_k: int, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        users = np.array([f"u{i}" for i in range(num_users)], dtype=object)
        self.user_row = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(users, np.arange(num_users, dtype=np.int64)), default_value=num_users)
        self.user_vectors = tf.Variable(rng.standard_normal((num_users + 1, dim), dtype=np.float32))
        self.max_k = min(max_k, num_items)
        self.index = tfrs.layers.factorized_top_k.BruteForce(k=self.max_k)
        items = np.array([f"i{i}" for i in range(num_items)], dtype=object)
        self.index.index(tf.constant(rng.standard_normal((num_items, dim), dtype=np.float32)), tf.constant(items))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def serve(self, user_id, k):
        checks = [tf.debugging.assert_greater_equal(k, 1, message="k must be at least 1"),
                  tf.debugging.assert_less_equal(k, self.max_k, message=f"k must be at most {self.max_k}")]
        with tf.control_dependencies(checks):
            query = tf.gather(self.user_vectors, self.user_row.lookup(user_id))
            scores, ids = self.index(query, k=self.max_k)
        top, order = tf.math.top_k(scores, k=k)
        return {"item_ids": tf.gather(ids, order, batch_dims=1), "scores": top}


def export_synthetic(base: str, items: int, dim: int, users: int, max_k: int) -> tuple[str, list[str]]:
    model = SyntheticRetrieval(users, items, dim, max_k)
    path = os.path.join(base, "retrieval", "1")
    tf.saved_model.save(model, path, signatures={"serving_default": model.serve.get_concrete_function()})
    return path, [f"u{i}" for i in range(users)]


def export_run(base: str, run: str, max_k: int) -> tuple[str, list[str]]:
    from tfrec.export.retrieval_export import export_retrieval
    from tfrec.training.experiment import Experiment

    exp = Experiment.from_run(run)
    path = export_retrieval(exp, exp.load_model(run), base, max_k=max_k)
    return path, [str(u) for u in exp.dataset.interactions.user_id.unique()]


def start_server(base: str, max_workers: int) -> tuple[subprocess.Popen, str]:
    """``tfrec serve`` on a free loopback port, in its own process (its own interpreter lock)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tfrec.cli", "serve", "--base", base, "--port", "0", "--poll-seconds", "0",
         "--max-workers", str(max_workers)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        match = re.search(r"listening on \S+:(\d+)", lines.get(timeout=300))
    except queue.Empty:
        match = None
    if not match:
        process.kill()
        raise RuntimeError("the model server did not start")
    return process, f"127.0.0.1:{match.group(1)}"


def measure(call, clients: int, seconds: float, max_requests: int, make_args) -> tuple[np.ndarray, float]:
    """Runs ``call(*make_args(i))`` from ``clients`` threads for ``seconds``; latencies (s) and wall time."""
    stop_at = time.perf_counter() + seconds
    per_thread = max(1, max_requests // clients)

    def worker(seed):
        latencies = []
        for i in range(per_thread):
            if time.perf_counter() >= stop_at:
                break
            args = make_args(seed * 1_000_003 + i)
            started = time.perf_counter()
            call(seed, *args)
            latencies.append(time.perf_counter() - started)
        return latencies

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(worker, range(clients)))
    return np.concatenate([np.asarray(r) for r in results]), time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="trained run folder to export and serve (default: synthetic model)")
    parser.add_argument("--items", type=int, default=1000, help="synthetic catalogue size")
    parser.add_argument("--dim", type=int, default=32, help="synthetic embedding width")
    parser.add_argument("--users", type=int, default=10_000, help="synthetic users")
    parser.add_argument("--batch", type=int, default=1, help="users per request")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per measurement")
    parser.add_argument("--budget-seconds", type=float, default=600, help="stop measuring after this long")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="tfrec-serving-bench-") as base:
        t = time.perf_counter()
        if args.run:
            path, users = export_run(base, args.run, max_k=max(args.k, 20))
            label = f"trained run {args.run}"
        else:
            path, users = export_synthetic(base, args.items, args.dim, args.users, max_k=max(args.k, 20))
            label = f"synthetic index: {args.items:,} items x {args.dim} dims, {args.users:,} users"
        size_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 2**20
        print(f"model: {label}; SavedModel {size_mb:.1f} MB, exported in {time.perf_counter() - t:.1f}s")
        print(f"request: {args.batch} user(s), k={args.k}; {args.seconds:g}s per measurement; "
              f"{os.cpu_count()} CPUs")

        rng_users = np.array(users, dtype=object)

        def make_args(i):
            picks = [rng_users[(i * 7919 + j * 104729) % len(rng_users)] for j in range(args.batch)]
            return (picks,)

        signature = tf.saved_model.load(path).signatures["serving_default"]
        k_tensor = tf.constant(args.k, tf.int32)

        def local_call(_, picks):
            out = signature(user_id=tf.constant(picks, tf.string), k=k_tensor)
            out["item_ids"].numpy(), out["scores"].numpy()

        process, target = start_server(base, max_workers=max(levels))
        clients = [ServingClient(target, timeout_s=30.0, retries=2) for _ in range(max(levels))]

        def grpc_call(seed, picks):
            clients[seed].recommend(picks, args.k)

        rows = []
        try:
            for call in (local_call, grpc_call):  # warm both paths up
                measure(call, 1, 0.5, 50, make_args)
            for clients_n in levels:
                for name, call in (("in-process", local_call), ("gRPC", grpc_call)):
                    if time.perf_counter() - began > args.budget_seconds:
                        print(f"budget of {args.budget_seconds:.0f}s used up; stopping")
                        break
                    latencies, wall = measure(call, clients_n, args.seconds, args.max_requests, make_args)
                    rows.append((name, clients_n, latencies, wall))
        finally:
            for c in clients:
                c.close()
            process.terminate()
            process.wait(timeout=30)

    local_p50 = {n: np.percentile(lat, 50) for name, n, lat, _ in rows if name == "in-process"}
    print()
    print(f"{'path':<11} {'clients':>7} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'req/s':>8} {'p50 / in-process':>17}")
    for name, n, lat, wall in rows:
        p50, p95, p99 = (np.percentile(lat, q) * 1000 for q in (50, 95, 99))
        ratio = f"{np.percentile(lat, 50) / local_p50[n]:.1f}x" if n in local_p50 else "-"
        print(f"{name:<11} {n:>7} {len(lat):>9} {p50:>8.2f} {p95:>8.2f} {p99:>8.2f} {len(lat) / wall:>8.0f} "
              f"{ratio:>17}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
