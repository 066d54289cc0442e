"""Retrieval index: brute force against the partitioned index, at catalogue sizes up to 10M items.

For each ``--items`` size it builds a synthetic catalogue of ``--dim``-wide
unit vectors from ``--rank`` latent taste factors plus ``--noise`` (trained
item embeddings have such low-rank structure; isotropic random vectors have
none, and no partitioning helps them), queries drawn the same way, and exports three
SavedModels with one signature (``query`` float32 [B, dim] → ``item_ids``,
``scores`` [B, k]): TFRS ``BruteForce``, the partitioned index with float32
vectors, and the partitioned index with int8 vectors (:mod:`tfrec.export.partitioned_index`;
one k-means shared by both). It prints, per index and ``--nprobe`` value:

- recall@k against the exact top k (numpy, the same queries);
- p50/p99 latency of one query through the loaded SavedModel in this process;
- the p50 ratio to brute force measured in the same run;
- the SavedModel's size;

and then the same three SavedModels served by ``tfrec serve`` in a separate
process (the partitioned ones at the smallest ``--nprobe`` that reached
``--target-recall``), called over gRPC one query per request.

    python benchmarks/index.py [--items 1000000,10000000] [--dim 64] [--k 100] [--nprobe 8,16,32,64]
                               [--queries 200] [--brute-queries 50] [--work-dir DIR]

Quality (``--quality-run RUN``, a trained retrieval run): the run's test
NDCG/Recall@K from the full-ranking harness (seen items excluded) with the
model's scores as brute force computes them, and with only the items the
partitioned index returns for each ``--nprobe`` (the rest score -inf).

    python benchmarks/index.py --quality-run runs/movielens-sequential [--nprobe 4,8,16,32]

A 10M catalogue needs about 20 GB of memory at its peak (the SavedModels are
loaded in this process, freed, then in the server).
"""

from __future__ import annotations

import argparse
import gc
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import tfrec  # noqa: E402,F401  (selects Keras 2 before TensorFlow is imported)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_recommenders as tfrs  # noqa: E402

from tfrec.export.partitioned_index import PartitionedIndex, default_partitions, kmeans  # noqa: E402


def catalogue(n: int, dim: int, rank: int, noise: float, seed: int, chunk: int = 1_000_000) -> np.ndarray:
    """``n`` unit vectors ``normalise(z·A + noise)``: ``rank`` latent taste factors ``z`` mapped to ``dim``
    coordinates by one fixed random ``A`` (the structure of trained embeddings), built a chunk at a time."""
    mixing = np.random.default_rng(0).standard_normal((rank, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        block = rng.standard_normal((rows, rank), dtype=np.float32) @ mixing
        block += noise * np.sqrt(rank) * rng.standard_normal((rows, dim), dtype=np.float32)
        out[start:start + rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top_k(items: np.ndarray, queries: np.ndarray, k: int, chunk: int = 1_000_000) -> np.ndarray:
    """Row numbers of the exact top k of every query, streamed over the catalogue."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(items), chunk):
        scores = queries @ items[start:start + chunk].T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        best_rows = np.concatenate([best_rows, top + start], axis=1)
        keep = np.argsort(-best_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
    return best_rows


class IndexModel(tf.Module):
    """A SavedModel answering ``query`` vectors with the top k of an index."""

    def __init__(self, index, k: int, dim: int):
        super().__init__()
        self.index, self.k = index, k
        self.serve = tf.function(lambda query: dict(zip(("scores", "item_ids"), self.index(query, k=self.k))),
                                 input_signature=[tf.TensorSpec([None, dim], tf.float32, name="query")])


def save(module: IndexModel, base: pathlib.Path, name: str) -> tuple[str, float]:
    """Writes ``base/name/1`` and returns its path and size in MB."""
    folder = base / name / "1"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve.get_concrete_function()})
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return str(folder), size / 1e6


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def time_calls(call, queries: np.ndarray) -> list[float]:
    call(queries[:1])  # the first call traces and warms caches
    spent = []
    for row in range(len(queries)):
        start = time.perf_counter()
        call(queries[row:row + 1])
        spent.append(time.perf_counter() - start)
    return spent


def recall(ids: np.ndarray, exact_ids: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, exact_ids)]))


def in_process(path: str, queries: np.ndarray, exact_ids: np.ndarray, brute_queries: int, nprobes=(None,)):
    """Rows of (nprobe, recall, p50, p99) for a saved index, re-tuning nprobe on the loaded model."""
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures["serving_default"]
    rows = []
    for nprobe in nprobes:
        if nprobe is not None:
            loaded.index._nprobe.assign(nprobe)  # noqa: SLF001
        ids = np.concatenate([signature(query=tf.constant(queries[i:i + 50]))["item_ids"].numpy()
                              for i in range(0, len(queries), 50)]).astype(str)
        subset = queries if nprobe is not None else queries[:brute_queries]
        p50, p99 = percentiles(time_calls(lambda q: signature(query=tf.constant(q)), subset))
        rows.append((nprobe, recall(ids, exact_ids), p50, p99))
    loaded = signature = None  # noqa: F841 (frees the model before the next one loads)
    gc.collect()
    return rows


def over_grpc(base: pathlib.Path, names: list[str], queries: np.ndarray, requests: dict[str, int]) -> dict:
    """p50/p99 of one query per Predict for each model, ``tfrec serve`` running in its own process."""
    from tfrec.serving.client import ServingClient

    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as log:
        pass
    probe = __import__("socket").socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    tfrec_bin = str(pathlib.Path(sys.executable).with_name("tfrec"))
    server = subprocess.Popen([tfrec_bin, "serve", "--base", str(base), "--port", str(port), "--max-message-mb", "64"],
                              stdout=open(log.name, "w"), stderr=subprocess.STDOUT)
    try:
        target = f"127.0.0.1:{port}"
        results = {}
        with ServingClient(target, timeout_s=120.0, retries=0) as client:
            for name in names:
                client.wait_until_available(name, timeout_s=1800)
            for name in names:
                calls = queries[:requests[name]]
                spent = time_calls(lambda q, name=name: client.predict(name, {"query": q.astype(np.float32)}), calls)
                results[name] = percentiles(spent)
        return results
    finally:
        server.terminate()
        server.wait(timeout=60)


def quality(run: str, nprobes: list[int], partitions: int, returned: int = 1000) -> None:
    """Test metrics of ``run`` with brute-force scores and with the partitioned index's candidates only."""
    from tfrec.evaluation.embedding_scorer import EmbeddingScorer
    from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, format_table
    from tfrec.evaluation.run_evaluation import warm_items
    from tfrec.training.experiment import Experiment

    exp = Experiment.from_run(run, log=lambda *_: None)
    model = exp.load_model(run)
    ks, batch_size = tuple(exp.config.eval.ks), exp.config.eval.batch_size
    test = exp.split.test
    test = test[test.user_id.isin(set(exp.evaluation_users("test")))]
    items = warm_items(exp)
    eval_set = EvaluationSet.from_frames(seen=exp.seen_before_test(), target=test, user_ids=test.user_id.unique(),
                                         item_ids=items)
    scorer = EmbeddingScorer(model, exp.join, items, histories=exp.query_histories(exp.seen_before_test()))
    results = {"brute force": evaluate(scorer, eval_set, ks, batch_size)}
    embeddings = scorer.item_embeddings.numpy()
    position = {item: i for i, item in enumerate(np.asarray(items).astype(str))}
    centroids = kmeans(embeddings, partitions or default_partitions(len(items)), seed=0)
    for nprobe in nprobes:
        index = PartitionedIndex(embeddings, np.asarray(items), nprobe=nprobe, centroids=centroids, lookup=False,
                                 log=lambda *_: None)

        def partitioned(user_ids, index=index):
            scores, ids = index(scorer.queries(user_ids), k=min(returned, len(items)))
            dense = np.full((len(user_ids), len(items)), -np.inf, dtype=np.float32)
            for row, (row_scores, row_ids) in enumerate(zip(scores.numpy(), ids.numpy().astype(str))):
                found = [(position[i], v) for i, v in zip(row_ids, row_scores) if i]
                dense[row, [c for c, _ in found]] = [v for _, v in found]
            return dense

        results[f"partitioned, nprobe {nprobe}/{len(centroids)}"] = evaluate(partitioned, eval_set, ks, batch_size)
    print(f"{exp.dataset.name}: {len(items):,} items, {eval_set.num_users:,} test users, seen items excluded")
    print(format_table(results))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="1000000", help="catalogue sizes, comma-separated")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--rank", type=int, default=16, help="latent factors of the synthetic vectors")
    parser.add_argument("--noise", type=float, default=0.1, help="noise per coordinate, relative to the factors")
    parser.add_argument("--partitions", type=int, default=0, help="0: about 4·√items")
    parser.add_argument("--nprobe", default="8,16,32,64")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--brute-queries", type=int, default=50, help="timed brute-force queries (slow at 10M)")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--no-grpc", action="store_true", help="measure in this process only")
    parser.add_argument("--quality-run", help="a trained retrieval run: its test metrics with each index instead")
    parser.add_argument("--work-dir", help="folder for the SavedModels (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    nprobes = [int(n) for n in args.nprobe.split(",")]
    if args.quality_run:
        quality(args.quality_run, nprobes, args.partitions)
        return 0
    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix="tfrec-index-"))
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    try:
        for n in [int(x) for x in args.items.split(",")]:
            base = work / f"items_{n}"
            shutil.rmtree(base, ignore_errors=True)
            started = time.perf_counter()
            items = catalogue(n, args.dim, args.rank, args.noise, seed=1)
            queries = catalogue(args.queries, args.dim, args.rank, args.noise, seed=2)
            ids = np.char.add("i", np.arange(n).astype(str))
            exact_ids = ids[exact_top_k(items, queries, args.k)]
            print(f"\n{n:,} items x {args.dim}: data and exact top {args.k} in {time.perf_counter() - started:.0f} s")

            started = time.perf_counter()
            brute = tfrs.layers.factorized_top_k.BruteForce(k=args.k)
            brute.index(tf.constant(items), tf.constant(ids.astype(object)))
            brute_path, brute_mb = save(IndexModel(brute, args.k, args.dim), base, "brute_force")
            del brute
            gc.collect()
            print(f"brute force saved in {time.perf_counter() - started:.0f} s")

            started = time.perf_counter()
            partitions = args.partitions or default_partitions(n)
            centroids = kmeans(items, partitions, seed=0)
            kmeans_s = time.perf_counter() - started
            paths = {}
            for quantize in ("none", "int8"):
                started = time.perf_counter()
                index = PartitionedIndex(items, ids, nprobe=nprobes[0], quantize=quantize, centroids=centroids,
                                         lookup=False, log=lambda *_: None)
                name = "partitioned" if quantize == "none" else "partitioned_int8"
                paths[name] = save(IndexModel(index, args.k, args.dim), base, name)
                del index
                gc.collect()
                print(f"{name}: {partitions:,} partitions, k-means {kmeans_s:.0f} s, "
                      f"assign and save {time.perf_counter() - started:.0f} s")
            del items
            gc.collect()

            table = [("brute_force", *in_process(brute_path, queries, exact_ids, args.brute_queries)[0], brute_mb)]
            for name, (path, mb) in paths.items():
                table += [(name, *row, mb) for row in in_process(path, queries, exact_ids, args.brute_queries, nprobes)]
            brute_p50 = table[0][3]
            print(f"\n| index | nprobe | recall@{args.k} | p50 ms | p99 ms | p50 vs brute force | SavedModel MB |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for name, nprobe, rec, p50, p99, mb in table:
                print(f"| {name} | {nprobe or '-'} | {rec:.3f} | {p50:.2f} | {p99:.2f} | "
                      f"{brute_p50 / p50:.1f}x faster | {mb:,.0f} |")

            if args.no_grpc:
                continue
            chosen = {}
            for name in paths:
                good = [row for row in table if row[0] == name and row[2] >= args.target_recall]
                chosen[name] = min(good, key=lambda r: r[1])[1] if good else nprobes[-1]
                loaded = tf.saved_model.load(paths[name][0])  # fix the served nprobe in the saved variables
                loaded.index._nprobe.assign(chosen[name])  # noqa: SLF001
                shutil.rmtree(paths[name][0])
                tf.saved_model.save(loaded, paths[name][0], signatures=loaded.signatures)
                del loaded
                gc.collect()
            names = ["brute_force", *paths]
            grpc = over_grpc(base, names, queries, {"brute_force": args.brute_queries, **{m: len(queries) for m in paths}})
            print(f"\nover gRPC (tfrec serve, one query per request; partitioned at the smallest nprobe "
                  f"reaching recall {args.target_recall}):")
            print("| index | nprobe | p50 ms | p99 ms | p50 vs brute force |")
            print("| --- | --- | --- | --- | --- |")
            for name in names:
                p50, p99 = grpc[name]
                print(f"| {name} | {chosen.get(name, '-')} | {p50:.2f} | {p99:.2f} | "
                      f"{grpc['brute_force'][0] / p50:.1f}x faster |")
            print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
