"""Serving latency and throughput over gRPC, next to the in-process call of the same SavedModels.

Retrieval mode (default). Serves a retrieval SavedModel with ``tfrec serve``
in a separate process and calls it from 1, 8 and 32 concurrent client threads
(one channel each), then calls the same SavedModel's signature in this
process from the same numbers of threads. Prints p50/p95/p99 latency,
requests per second, and the gRPC overhead as the ratio of the gRPC p50 to
the in-process p50.

The model is either a trained run (``--run``, exported first) or a synthetic
retrieval model with the export's signature (``user_id`` [B] → ``item_ids``,
``scores`` [B, max_k]; exported with ``max_k`` = ``--k``): a user-embedding table and a TFRS ``BruteForce``
index over ``--items`` random item vectors, so the index cost of a large
catalogue (``--items 1000000``) is measured without training anything.

    python benchmarks/serving.py [--run RUN] [--items 1000] [--dim 32] [--batch 1] [--k 10]
                                 [--clients 1,8,32] [--seconds 3]

Two-stage mode (``--two-stage``, MovieLens 100K). Trains a retrieval run
(``retrieval_movielens.yaml``, ``--retrieval-epochs`` 3) and a two-stage
ranking run against it (``ranking_movielens_two_stage.yaml``,
``--ranking-epochs`` 2; short trainings are enough for latency), or reuses
``--retrieval-run``/``--ranking-run``; exports both with ``max_k`` =
``--candidates`` into a temporary base path and serves it with ``tfrec
serve`` three times: without batching and with ``--enable-batching`` for each
``--batch-timeout-micros`` value (0 and 2000 µs; ``max_batch_size`` = most
clients x candidates, one batch thread per core, or
``--batching-parameters-file`` for a single batching server). At 1, 8 and 32
clients, the paths of one level measured back to back, it prints:

1. two-stage recommend (:mod:`tfrec.serving.two_stage`: retrieve 100 → rank
   → top 10, one user per request) over gRPC next to the same code on the
   SavedModels in this process, with the p50 and p99 ratios, and whether the
   1-client gRPC p99 is within 25 ms;
2. the ranking model's ``Predict`` with one user's 100 candidates per
   request: in-process, gRPC, and gRPC with batching, ratios to unbatched gRPC;
3. two-stage recommend over gRPC with batching off and on (both calls batched);
4. two-stage recommend over REST (``tfrec serve --rest-port``, TF Serving's JSON
   ``inputs`` format, one keep-alive HTTP connection per client) next to gRPC
   on the same unbatched server, same users, with the p50, p99 and req/s ratios.

    python benchmarks/serving.py --two-stage [--retrieval-run RUN --ranking-run RUN] [--seconds 8]
                                 [--clients 1,8,32] [--batch-timeout-micros 0,2000]

Every table has the 1-minute load average at the end of each measurement;
the client threads share one Python process, and the servers run beside it
on the same cores. The paths of one level take turns (``--rounds``, in a
rotating order) so that load from other jobs hits them alike. Every
measurement is bounded by ``--seconds`` and ``--max-requests``; the whole run
by ``--budget-seconds``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import pathlib
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

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "pipelines" / "configs"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "movielens-100k-mm"


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

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id")])
    def serve(self, user_id):
        query = tf.gather(self.user_vectors, self.user_row.lookup(user_id))
        scores, ids = self.index(query, k=self.max_k)
        return {"item_ids": ids, "scores": scores}


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


def start_server(base: str, max_workers: int, extra: tuple = (), log_path: str | None = None,
                 rest: bool = False) -> tuple[subprocess.Popen, str]:
    """``tfrec serve`` on a free loopback port, in its own process (its own interpreter lock).

    ``extra`` adds command-line options (e.g. ``--enable-batching``); the server's log goes to ``log_path``.
    With ``rest`` it also serves the REST API on a free port, and the target is ``grpc_target rest_root``.
    """
    if rest:
        extra = (*extra, "--rest-port", "0")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    stderr = open(log_path, "w") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "tfrec.cli", "serve", "--base", base, "--port", "0", "--poll-seconds", "0",
         "--max-workers", str(max_workers), *extra],
        stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    if log_path:
        stderr.close()  # the child holds its own copy
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        match = re.search(r"listening on \S+:(\d+)", lines.get(timeout=300))
    except queue.Empty:
        match = None
    rest_match = None
    if match and rest:
        try:
            rest_match = re.search(r"REST API listening on (http://\S+:\d+)", lines.get(timeout=60))
        except queue.Empty:
            pass
    if not match or (rest and not rest_match):
        process.kill()
        raise RuntimeError("the model server did not start" + (f"; see {log_path}" if log_path else ""))
    target = f"127.0.0.1:{match.group(1)}"
    return process, (f"{target} {rest_match.group(1)}" if rest else target)


def rest_stages(root: str, ranking_inputs: set, ranking_outputs: list, retrieval_model: str = "retrieval",
                ranking_model: str = "ranking"):
    """``(retrieve, rank)`` of :func:`tfrec.serving.two_stage.two_stage` over TF Serving's REST API (columnar
    ``inputs``, one keep-alive connection), asking the same signatures as :func:`grpc_stages` does."""
    import http.client
    import json
    import urllib.parse

    from tfrec.models.ranking import RETRIEVAL_SCORE
    from tfrec.serving.top_k import first_k_of

    address = urllib.parse.urlsplit(root)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)

    def post(model: str, inputs: dict) -> dict:
        body = json.dumps({"signature_name": "serving_default", "inputs": inputs})
        connection.request("POST", f"/v1/models/{model}:predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"REST {model}: HTTP {response.status}: {answer.get('error')}")
        return answer["outputs"]

    def retrieve(user_ids, k, histories=None):
        outputs = post(retrieval_model, {"user_id": [str(u) for u in user_ids]})
        return first_k_of({name: np.asarray(value) for name, value in outputs.items()}, k)

    def rank(user_ids, item_ids, retrieval_scores, histories=None):
        inputs = {"user_id": [str(u) for u in user_ids], "item_id": [str(i) for i in item_ids]}
        if RETRIEVAL_SCORE in ranking_inputs:
            inputs[RETRIEVAL_SCORE] = [float(s) for s in retrieval_scores]
        outputs = post(ranking_model, inputs)
        if len(ranking_outputs) == 1:  # a single output is answered bare, as TF Serving does
            outputs = {ranking_outputs[0]: outputs}
        return {name: np.asarray(value) for name, value in outputs.items()}

    return retrieve, rank


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


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


@dataclasses.dataclass
class Row:
    """One measurement: a path at a concurrency level, its latencies (s), wall time and load average."""

    path: str
    clients: int
    latencies: np.ndarray
    wall: float
    load: float  # 1-minute load average when the measurement ended

    def p(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if len(self.latencies) else float("nan")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall


def run_measurements(paths: dict, levels: list[int], args, make_args, began: float) -> list[Row]:
    """Every path at every level. The paths of one level take turns, ``--rounds`` times in a rotating
    order, each turn ``--seconds / --rounds`` long, so a change in the machine's load hits them alike."""
    for call in paths.values():  # warm every path up
        measure(call, 1, 1.0, 50, make_args)
    rows = []
    names = list(paths)
    for clients_n in levels:
        got = {name: ([], 0.0) for name in names}
        for turn in range(args.rounds):
            for name in names[turn % len(names):] + names[:turn % len(names)]:
                if time.perf_counter() - began > args.budget_seconds:
                    print(f"budget of {args.budget_seconds:.0f}s used up; stopping")
                    return rows + [Row(n, clients_n, np.concatenate(l), w, os.getloadavg()[0])
                                   for n, (l, w) in got.items() if l]
                latencies, wall = measure(paths[name], clients_n, args.seconds / args.rounds,
                                          max(1, args.max_requests // args.rounds), make_args)
                got[name][0].append(latencies)
                got[name] = (got[name][0], got[name][1] + wall)
        rows += [Row(n, clients_n, np.concatenate(l), w, os.getloadavg()[0]) for n, (l, w) in got.items()]
    return rows


def print_table(title: str, rows: list[Row], baseline: str, ratios: tuple = ("p50",), rows_per_request: int = 0):
    """A table of ``rows``; each ratio column divides a row's figure by the ``baseline`` path's at that level."""
    base = {r.clients: r for r in rows if r.path == baseline}
    print(f"\n{title}")
    header = (f"{'path':<18} {'clients':>7} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'req/s':>8}" + (f" {'pairs/s':>8}" if rows_per_request else ""))
    for ratio in ratios:
        header += f" {ratio + ' / ' + baseline:>{max(14, len(ratio) + len(baseline) + 3)}}"
    print(header + f" {'load1':>6}")
    for r in rows:
        line = (f"{r.path:<18} {r.clients:>7} {len(r.latencies):>9} {r.p(50):>8.2f} {r.p(95):>8.2f} {r.p(99):>8.2f} "
                f"{r.rate:>8.0f}" + (f" {r.rate * rows_per_request:>8.0f}" if rows_per_request else ""))
        for ratio in ratios:
            b = base.get(r.clients)
            value = "-" if b is None else (f"{r.rate / b.rate:.2f}x" if ratio == "req/s"
                                            else f"{r.p(float(ratio[1:])) / b.p(float(ratio[1:])):.2f}x")
            line += f" {value:>{max(14, len(ratio) + len(baseline) + 3)}}"
        print(line + f" {r.load:>6.2f}")


def retrieval_benchmark(args, levels: list[int], began: float) -> int:
    """Retrieval recommend: in-process vs gRPC (the original benchmark)."""
    with tempfile.TemporaryDirectory(prefix="tfrec-serving-bench-") as base:
        t = time.perf_counter()
        if args.run:
            path, users = export_run(base, args.run, max_k=args.k)
            label = f"trained run {args.run}"
        else:
            path, users = export_synthetic(base, args.items, args.dim, args.users, max_k=args.k)
            label = f"synthetic index: {args.items:,} items x {args.dim} dims, {args.users:,} users"
        size_mb = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 2**20
        print(f"model: {label}; SavedModel {size_mb:.1f} MB, exported in {time.perf_counter() - t:.1f}s")
        print(f"request: {args.batch} user(s), k={args.k}; {args.seconds:g}s per measurement; "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")

        rng_users = np.array(users, dtype=object)

        def make_args(i):
            picks = [rng_users[(i * 7919 + j * 104729) % len(rng_users)] for j in range(args.batch)]
            return (picks,)

        signature = tf.saved_model.load(path).signatures["serving_default"]

        def local_call(_, picks):
            out = signature(user_id=tf.constant(picks, tf.string))
            out["item_ids"].numpy(), out["scores"].numpy()

        process, target = start_server(base, max_workers=max(levels))
        clients = [ServingClient(target, timeout_s=30.0, retries=2) for _ in range(max(levels))]

        def grpc_call(seed, picks):
            clients[seed].recommend(picks, args.k)

        try:
            rows = run_measurements({"in-process": local_call, "gRPC": grpc_call}, levels, args, make_args, began)
        finally:
            for c in clients:
                c.close()
            stop_server(process)
    print_table(f"retrieval recommend, {args.batch} user(s) per request, top {args.k}", rows, "in-process")
    return 0


# -- two-stage over gRPC, and request batching on/off ------------------------------------------------
def train_runs(args, work_dir: str) -> tuple[str, str]:
    """The MovieLens retrieval and two-stage ranking runs: the given ones, or short trainings into ``work_dir``."""
    from tfrec.config import RankingConfig, load_config
    from tfrec.training.ranking_trainer import train_ranking
    from tfrec.training.retrieval_trainer import train_retrieval

    quiet = dict(log=lambda *_: None)
    retrieval_run = args.retrieval_run or os.path.join(work_dir, "retrieval")
    if not args.retrieval_run:
        t = time.perf_counter()
        train_retrieval(load_config(str(CONFIGS / "retrieval_movielens.yaml"),
                                    overrides={"data.path": args.movielens, "train.epochs": args.retrieval_epochs}),
                        retrieval_run, **quiet)
        print(f"trained retrieval run {retrieval_run} ({args.retrieval_epochs} epochs, "
              f"{time.perf_counter() - t:.0f}s)")
    ranking_run = args.ranking_run or os.path.join(work_dir, "ranking")
    if not args.ranking_run:
        t = time.perf_counter()
        config = load_config(str(CONFIGS / "ranking_movielens_two_stage.yaml"), RankingConfig,
                             overrides={"data.path": args.movielens, "candidates.retrieval_run": retrieval_run,
                                        "candidates.k": args.candidates, "train.epochs": args.ranking_epochs})
        train_ranking(config, ranking_run, **quiet)
        print(f"trained ranking run {ranking_run} ({args.ranking_epochs} epochs, {time.perf_counter() - t:.0f}s)")
    return retrieval_run, ranking_run


def export_two_stage(base: str, retrieval_run: str, ranking_run: str, max_k: int) -> list[str]:
    """Exports both runs under ``base`` (plus models.config and batching_parameters.txt); the users."""
    from tfrec.export.ranking_export import export_ranking
    from tfrec.export.retrieval_export import export_retrieval
    from tfrec.export.serving_config import write_serving_files
    from tfrec.training.experiment import Experiment
    from tfrec.training.ranking_experiment import RankingExperiment

    quiet = dict(log=lambda *_: None)
    exp = Experiment.from_run(retrieval_run, **quiet)
    export_retrieval(exp, exp.load_model(retrieval_run), base, max_k=max_k)
    ranking = RankingExperiment.from_run(ranking_run, **quiet)
    export_ranking(ranking, ranking.load_model(ranking_run), base)
    write_serving_files(base)
    return [str(u) for u in exp.split.test.user_id.unique()]


def batching_files(args, base: str, levels: list[int]) -> dict[str, str]:
    """Path name → batching parameters file of each batching server: ``--batching-parameters-file``, or
    one written per ``--batch-timeout-micros`` value.

    The written ones let every client's ranking request share one batch (``max_batch_size`` =
    clients x candidates) with one batch thread per core. With a timeout of 0 a batch runs as soon
    as a thread is free, so only requests that arrive while every thread is busy share one; a
    timeout holds the first request of a batch that long for others to join.
    """
    from tfrec.export.serving_config import BatchingSettings, write_batching_parameters

    if args.batching_parameters_file:
        return {"gRPC+batching": args.batching_parameters_file}
    files = {}
    for micros in (int(m) for m in args.batch_timeout_micros.split(",")):
        folder = os.path.join(base, f".bench-batching-{micros}")
        os.makedirs(folder, exist_ok=True)
        files[f"gRPC+batch {micros}us"] = write_batching_parameters(folder, BatchingSettings(
            max_batch_size=max(levels) * args.candidates, batch_timeout_micros=micros,
            num_batch_threads=os.cpu_count() or 1, max_enqueued_batches=100))
    return files


def log_lines(path: str, *needles: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.split(": ", 1)[-1].strip() for line in f if any(n in line for n in needles)]


def two_stage_benchmark(args, levels: list[int], began: float) -> int:
    """Two-stage recommend in-process vs over gRPC, and the ranking model and two-stage with batching on/off."""
    from tfrec.serving.two_stage import TwoStageRecommender, grpc_stages, two_stage

    tf.get_logger().setLevel("ERROR")  # the exports' Keras serialization warnings
    trains = not (args.retrieval_run and args.ranking_run)
    work_dir = args.work_dir or (tempfile.mkdtemp(prefix="tfrec-serving-runs-") if trains else "")
    retrieval_run, ranking_run = train_runs(args, work_dir)
    with tempfile.TemporaryDirectory(prefix="tfrec-serving-bench-") as base:
        t = time.perf_counter()
        users = export_two_stage(base, retrieval_run, ranking_run, max_k=args.candidates)
        print(f"exported retrieval ({retrieval_run}) and ranking ({ranking_run}) in {time.perf_counter() - t:.0f}s")
        params = batching_files(args, base, levels)
        for name, path in params.items():
            with open(path) as f:
                print(f"{name}: batching parameters " + " ".join(f.read().split()))

        local = TwoStageRecommender(base)
        # Ranking requests as two-stage sends them: one user's retrieved candidates.
        picked = [users[(i * 7919) % len(users)] for i in range(min(200, len(users)))]
        found = local.retrieve(picked, args.candidates)
        item_ids, scores = found["item_ids"], found["scores"]
        rank_requests = [([u] * args.candidates, [i.decode() for i in item_ids[r]], scores[r])
                         for r, u in enumerate(picked)]
        print(f"MovieLens 100K: {len(users)} users; two-stage request: 1 user, retrieve {args.candidates}, rank, "
              f"top {args.n}; ranking request: {args.candidates} (user, item) pairs; {args.seconds:g}s per "
              f"measurement; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")

        def user_args(i):
            return (users[(i * 7919) % len(users)],)

        def rank_args(i):
            return rank_requests[i % len(rank_requests)]

        logs = {kind: os.path.join(base, f".bench-server-{i}.log") for i, kind in enumerate(["gRPC", *params])}
        process, targets = start_server(base, max(levels), log_path=logs["gRPC"], rest=True)
        grpc_target, rest_root = targets.split()
        servers = {"gRPC": (process, grpc_target)}
        for kind, path in params.items():
            servers[kind] = start_server(base, max(levels), ("--enable-batching", "--batching-parameters-file", path),
                                         log_path=logs[kind])
        clients = {kind: [ServingClient(target, timeout_s=60.0, retries=2) for _ in range(max(levels))]
                   for kind, (_, target) in servers.items()}
        try:
            ranking_signature = clients["gRPC"][0].metadata("ranking")["signatures"]["serving_default"]
            ranking_inputs = set(ranking_signature["inputs"])
            stages = {kind: [grpc_stages(c, ranking_inputs=ranking_inputs) for c in cs] for kind, cs in clients.items()}
            stages["REST"] = [rest_stages(rest_root, ranking_inputs, sorted(ranking_signature["outputs"]))
                              for _ in range(max(levels))]

            def two_stage_call(kind):
                return lambda seed, user: two_stage(*stages[kind][seed], [user], args.n, args.candidates)

            def rank_call(kind):
                return lambda seed, u, i, s: stages[kind][seed][1](np.asarray(u, object), np.asarray(i, object), s)

            two_stage_rows = run_measurements(
                {"in-process": lambda _, user: local.recommend([user], args.n, args.candidates),
                 **{kind: two_stage_call(kind) for kind in servers}},
                levels, args, user_args, began)
            check = two_stage(*stages["REST"][0], [users[0]], args.n, args.candidates)
            same = [r.item_id for r in check[0]] == [r.item_id for r in two_stage_call("gRPC")(0, users[0])[0]]
            rest_rows = run_measurements({"gRPC": two_stage_call("gRPC"), "REST": two_stage_call("REST")},
                                         levels, args, user_args, began)
            rank_rows = run_measurements(
                {"in-process": lambda _, u, i, s: local.rank(u, i, s), **{kind: rank_call(kind) for kind in servers}},
                levels, args, rank_args, began)
        finally:
            for cs in clients.values():
                for c in cs:
                    c.close()
            for process, _ in servers.values():
                stop_server(process)
        server_notes = {kind: log_lines(logs[kind], "request batching", "served unbatched") for kind in params}

    print_table(f"(1) two-stage recommend over gRPC vs in-process (retrieve {args.candidates} -> rank -> top "
                f"{args.n}, 1 user per request)", [r for r in two_stage_rows if r.path in ("in-process", "gRPC")],
                "in-process", ratios=("p50", "p99"))
    one = {r.path: r for r in two_stage_rows if r.clients == 1}
    if "gRPC" in one:
        verdict = "met" if one["gRPC"].p(99) <= 25 else "NOT met"
        print(f"target p99 <= 25 ms with 1 client over gRPC: {one['gRPC'].p(99):.1f} ms, {verdict} "
              f"(load average {one['gRPC'].load:.2f} on {os.cpu_count()} CPUs)")
    print_table(f"(2) ranking model Predict, {args.candidates} (user, item) pairs per request: "
                f"server-side batching off vs on", rank_rows, "gRPC", ratios=("req/s", "p50", "p99"),
                rows_per_request=args.candidates)
    print_table("(3) two-stage recommend over gRPC: server-side batching off vs on",
                [r for r in two_stage_rows if r.path != "in-process"], "gRPC", ratios=("req/s", "p50", "p99"))
    print_table("(4) two-stage recommend over REST vs gRPC (the same unbatched server, the same users)",
                rest_rows, "gRPC", ratios=("req/s", "p50", "p99"))
    print(f"REST and gRPC gave {'the same' if same else 'DIFFERENT'} top {args.n} for user {users[0]}")
    for kind, lines in server_notes.items():
        print(f"\n{kind} server log:")
        for line in lines:
            print(f"  {line}")
    print(f"\nruns: {retrieval_run}, {ranking_run}; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="trained run folder to export and serve (default: synthetic model)")
    parser.add_argument("--items", type=int, default=1000, help="synthetic catalogue size")
    parser.add_argument("--dim", type=int, default=32, help="synthetic embedding width")
    parser.add_argument("--users", type=int, default=10_000, help="synthetic users")
    parser.add_argument("--batch", type=int, default=1, help="users per request")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--seconds", type=float, help="per measurement (default 3, with --two-stage 8)")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="turns each path takes per measurement")
    parser.add_argument("--budget-seconds", type=float, default=900, help="stop measuring after this long")
    two = parser.add_argument_group("two-stage mode (MovieLens 100K)")
    two.add_argument("--two-stage", action="store_true", help="two-stage recommend and batching on/off")
    two.add_argument("--movielens", default=str(DEFAULT_DATA), help="the movielens-100k-mm folder")
    two.add_argument("--retrieval-run", help="reuse this retrieval run (default: train one)")
    two.add_argument("--ranking-run", help="reuse this ranking run, trained against --retrieval-run")
    two.add_argument("--retrieval-epochs", type=int, default=3, help="when training the retrieval run")
    two.add_argument("--ranking-epochs", type=int, default=2, help="when training the ranking run")
    two.add_argument("--work-dir", help="where trained runs go (default: a temporary folder, kept)")
    two.add_argument("--candidates", type=int, default=100, help="items retrieved and ranked per user")
    two.add_argument("--n", type=int, default=10, help="items returned per user")
    two.add_argument("--batching-parameters-file", help="for the one batching server (default: written ones)")
    two.add_argument("--batch-timeout-micros", default="0,2000",
                     help="one batching server per value, with written batching parameters")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    began = time.perf_counter()
    if args.seconds is None:
        args.seconds = 8.0 if args.two_stage else 3.0
    if not args.two_stage:
        return retrieval_benchmark(args, levels, began)
    if args.ranking_run and not args.retrieval_run:
        parser.error("--ranking-run needs the --retrieval-run it was trained against")
    if not args.retrieval_run and not os.path.exists(os.path.join(args.movielens, "ml-100k", "u.data")):
        print(f"MovieLens 100K not found at {args.movielens} (expected ml-100k/u.data there)", file=sys.stderr)
        return 2
    return two_stage_benchmark(args, levels, began)


if __name__ == "__main__":
    raise SystemExit(main())
