"""Event store speed: ingestion throughput, and event-to-effect latency (add an event → the next
recommendation reflects it), for SQLite and Redis, in this process and over gRPC.

A small sequential retrieval model is trained on the built-in synthetic data
(or ``--run`` names one) and exported; ``tfrec serve``'s server runs on a free
loopback port; Redis is a ``redis-server`` this command starts on loopback
(or ``--redis URL``). Event-to-effect: a user's event is added, then the user's
latest items are read from the store and the ``with_history`` signature is
called; the time runs from the add to the answer, and the answer counts only
if the history it used ends with that event. The baseline, measured in the
same run, is the same call with the history already in hand (no store): the
ratio is what the store costs.

    python benchmarks/events.py [--run RUN] [--requests 300] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

from tfrec.config import RetrievalConfig, from_dict
from tfrec.events import Event, open_store
from tfrec.export.retrieval_export import export_retrieval
from tfrec.export.serving_config import write_serving_files
from tfrec.serving.client import ServingClient
from tfrec.serving.model_server import ModelServer
from tfrec.serving.saved_model_recommender import SavedModelRecommender
from tfrec.training.experiment import Experiment
from tfrec.training.retrieval_trainer import train_retrieval

LENGTH = 20
CLOCK = itertools.count(2_000_000_000)  # event times: each newer than every event before, across cases
CONFIG = {
    "name": "events-benchmark",
    "data": {"source": "synthetic", "synthetic": {"num_users": 3000, "num_items": 1000,
                                                  "mean_interactions_per_user": 20, "seed": 5, "image_size": 16}},
    "model": {"embedding_dim": 32, "id_embedding_dim": 32, "feature_embedding_dim": 8, "hidden_dims": [64],
              "history": {"length": LENGTH, "dim": 32, "encoder": "transformer"}},
    "train": {"batch_size": 512, "epochs": 3, "early_stopping_patience": 3, "learning_rate": 0.005},
    "export": {"max_k": 100},
}


def quiet(*_):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(folder: str):
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder, "--save", "",
                                "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    return None, None


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _writer(spec: str, batch: int, seconds: float, queue, writer: int) -> None:
    store = open_store(spec)
    written, deadline, n = 0, time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        store.add_many([Event(f"w{writer}-u{(n + i) % 500}", f"i{(n + i) % 1000}", 1_700_000_000 + n + i)
                        for i in range(batch)])
        n += batch
        written += batch
    queue.put(written)
    store.close()


def ingestion(spec: str, writers: int, batch: int, seconds: float = 4.0) -> float:
    """Events per second that ``writers`` processes add, ``batch`` events per write."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_writer, args=(spec, batch, seconds, queue, w)) for w in range(writers)]
    for p in processes:
        p.start()
    total = sum(queue.get(timeout=120) for _ in processes)
    for p in processes:
        p.join()
    return total / seconds


def event_to_effect(store, recommend, users, items, requests: int, rng) -> list[float]:
    """Seconds from adding an event to the answer that used it (each checked)."""
    times = []
    for n in range(requests):
        user, item = users[n % len(users)], items[rng.integers(len(items))]
        start = time.perf_counter()
        store.add(user, item, next(CLOCK))
        latest = store.latest([user], LENGTH)[user]
        recommend([user], [latest])
        times.append(time.perf_counter() - start)
        if latest[-1] != item:
            raise AssertionError(f"the history read back does not end with the event just added ({latest[-1]})")
    return times


def model_only(recommend, users, histories, requests: int) -> list[float]:
    times = []
    for n in range(requests):
        user = users[n % len(users)]
        start = time.perf_counter()
        recommend([user], [histories[user]])
        times.append(time.perf_counter() - start)
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a trained sequential retrieval run (default: train a small synthetic one)")
    parser.add_argument("--requests", type=int, default=300, help="event-to-effect measurements per case")
    parser.add_argument("--redis", help="redis:// URL of a server to use (default: start redis-server on loopback)")
    parser.add_argument("--work-dir", help="folder for the run, export and stores (default: a temporary folder)")
    args = parser.parse_args(argv)
    work = args.work_dir or tempfile.mkdtemp(prefix="tfrec-events-bench-")
    os.makedirs(work, exist_ok=True)
    run = args.run or os.path.join(work, "run")
    if not args.run and not os.path.exists(os.path.join(run, "run.json")):
        values = {**CONFIG, "data": {**CONFIG["data"], "cache_dir": os.path.join(work, "data_cache")}}
        train_retrieval(from_dict(RetrievalConfig, values), run, log=quiet)
    exp = Experiment.from_run(run, log=quiet)
    base = os.path.join(work, "saved_models")
    shutil.rmtree(base, ignore_errors=True)
    export_retrieval(exp, exp.load_model(run), base, max_k=100, log=quiet)
    write_serving_files(base)
    users = [str(u) for u in exp.dataset.interactions.user_id.unique()[:200]]
    items = [str(i) for i in exp.item_ids[:500]]
    histories = {u: [str(i) for i in exp.dataset.interactions[exp.dataset.interactions.user_id == u]
                     .sort_values("timestamp").item_id.tail(LENGTH)] for u in users}

    redis_process, redis_url = (None, args.redis) if args.redis else start_redis(work)
    stores = {"SQLite": os.path.join(work, "events.sqlite")}
    for leftover in ("", "-wal", "-shm"):  # every measurement starts from an empty store
        if os.path.exists(stores["SQLite"] + leftover):
            os.remove(stores["SQLite"] + leftover)
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        stores["Redis"] = redis_url
    else:
        print("redis-server not found: Redis rows left out", file=sys.stderr)

    local = SavedModelRecommender(base)
    server = ModelServer(base=base, port=0, poll_seconds=0)
    port = server.start()
    client = ServingClient(f"127.0.0.1:{port}", timeout_s=30)
    client.wait_until_available("retrieval")
    paths = {"in-process": lambda us, h: local.raw(us, 10, h),
             "gRPC": lambda us, h: client.retrieve(us, 10, histories=h)}
    rng = np.random.default_rng(0)
    rows = []
    try:
        for path, recommend in paths.items():
            recommend([users[0]], [histories[users[0]]])  # warm
            base_p50, base_p99 = percentiles(model_only(recommend, users, histories, args.requests))
            rows.append((path, "none (history in hand)", base_p50, base_p99, 1.0))
            for name, spec in stores.items():
                with open_store(spec) as store:
                    store.add_many([Event(u, i, 1_000 + n) for u in users for n, i in enumerate(histories[u])])
                    p50, p99 = percentiles(event_to_effect(store, recommend, users, items, args.requests, rng))
                rows.append((path, name, p50, p99, p50 / base_p50))
    finally:
        client.close()
        server.stop(grace_seconds=1.0)

    print(f"event-to-effect latency: add an event, read the user's latest {LENGTH}, recommend top 10 "
          f"({args.requests} requests each, 1 client; catalogue {len(exp.item_ids):,} items)")
    print("\n| path | store | p50 ms | p99 ms | p50 / no store |")
    print("| --- | --- | --- | --- | --- |")
    for path, name, p50, p99, ratio in rows:
        print(f"| {path} | {name} | {p50:.2f} | {p99:.2f} | {ratio:.2f}x |")

    print("\ningestion throughput (events/s; 4 s per case; distinct processes)")
    print("\n| store | writers | events per write | events/s | vs SQLite |")
    print("| --- | --- | --- | --- | --- |")
    for writers, batch in ((1, 1), (8, 1), (1, 1000), (8, 1000)):
        measured = {}
        for name, spec in stores.items():
            target = spec if name == "Redis" else os.path.join(work, f"ingest-{writers}-{batch}.sqlite")
            if name == "SQLite":
                open_store(target).close()
            measured[name] = ingestion(target, writers, batch)
        for name, rate in measured.items():
            print(f"| {name} | {writers} | {batch} | {rate:,.0f} | {rate / measured['SQLite']:.2f}x |")
    if redis_process is not None:
        redis_process.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
