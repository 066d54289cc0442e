"""How cost grows with the data: in-memory sources against a sharded data set, at 0.3M, 3M and 30M interactions.

    python benchmarks/scale.py                      # all three sizes, both paths
    python benchmarks/scale.py --sizes 0.3M 3M --max-steps 300

The built-in synthetic world at each size (users and items ×10 per step,
30 interactions per user on average), the model of
``pipelines/configs/retrieval_synthetic.yaml``. Each (size, path) runs in a
fresh process, whose peak resident memory the kernel reports when it ends:

* in-memory: ``data.source: synthetic`` — generate, split leave-last-out and
  build the vocabularies in pandas; validate on every user;
* sharded: ``tfrec data shard`` writes the same world as shards split by time
  (its own column), then ``data.source: sharded`` streams them; validation
  ranks the catalogue for a fixed sample of 10,000 users.

Columns: data preparation (the shard writing apart), training examples/s and
epoch time (a full epoch, or its projection from ``--max-steps`` steps when
that is less, marked ``~``), one validation pass over the evaluated users,
peak RSS. A process above ``--memory-limit-gb`` (sampled every half second) is
stopped and reported as out of memory at that size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

SIZES = {"0.3M": (10_000, 3_000), "3M": (100_000, 30_000), "30M": (1_000_000, 300_000)}
CONFIG = os.path.join(os.path.dirname(__file__), "..", "pipelines", "configs", "retrieval_synthetic.yaml")


def child(spec: dict) -> dict:
    """One measurement in this (fresh) process: prepare, one timed epoch (or steps), one validation pass."""
    import tfrec  # noqa: F401
    from tfrec.config import apply_overrides, build_config, read_yaml
    from tfrec.evaluation.embedding_scorer import EmbeddingScorer
    from tfrec.evaluation.full_ranking import evaluate
    from tfrec.training.experiment import Experiment
    from tfrec.training.fit_loop import make_optimizer
    from tfrec.training.retrieval_trainer import held_out_set

    values = read_yaml(CONFIG)
    values["data"] = spec["data"]  # the model and training of the demo config, on this size's data
    config = build_config(apply_overrides(values, spec["overrides"]))
    start = time.perf_counter()
    exp = Experiment.prepare(config, spec["run"], log=lambda *_: None)
    prepare_s = time.perf_counter() - start
    batch = exp.config.train.batch_size
    steps = math.ceil(exp.data.num_train / batch)
    timed = min(steps, spec["max_steps"])
    model = exp.build_model()
    model.compile(optimizer=make_optimizer(exp.config.train))
    data = exp.train_dataset(batch, exp.config.train.seed)
    data = data.repeat() if exp.data.stream is None else data
    model.fit(data, epochs=1, steps_per_epoch=min(20, timed), verbose=0)  # warm-up: tracing, first batches
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=timed, verbose=0)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    val_set = held_out_set(exp, "val")
    results = evaluate(EmbeddingScorer(model, exp.join, exp.item_ids), val_set, ks=(10,))
    eval_s = time.perf_counter() - start
    examples = timed * batch
    import resource

    return {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024, "prepare_s": prepare_s, "examples_per_s": examples / fit_s, "epoch_s": steps * batch / (examples / fit_s),
            "epoch_projected": timed < steps, "eval_s": eval_s, "eval_users": results["users"],
            "train_interactions": exp.data.num_train, "val_ndcg@10": results["ndcg@10"]}


def measure(spec: dict, memory_limit_gb: float) -> dict:
    """Runs ``child(spec)`` in a fresh process; adds its peak RSS (or stops it at the limit)."""
    out = os.path.join(spec["run"] + ".json")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, __file__, "--child", json.dumps({**spec, "out": out})], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    limit_kb, peak_kb, stopped = memory_limit_gb * 1024 * 1024, 0, False
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            rss = 0
        peak_kb = max(peak_kb, rss)
        if rss > limit_kb:
            proc.kill()
            stopped = True
        time.sleep(0.5)
    err = proc.stderr.read()
    if stopped:
        return {"out_of_memory": True, "peak_rss_gb": peak_kb / 1024 / 1024}
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['run']} failed:\n{err[-3000:]}")
    with open(out) as f:
        return json.load(f)  # its peak RSS as the kernel counted it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--paths", nargs="*", default=["in-memory", "sharded"], choices=["in-memory", "sharded"])
    parser.add_argument("--max-steps", type=int, default=10_000_000, help="timed training steps at most")
    parser.add_argument("--memory-limit-gb", type=float, default=20.0)
    parser.add_argument("--work", default="", help="folder for data and runs (default: a temp folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        with open(spec["out"], "w") as f:
            json.dump(child(spec), f)
        return

    from tfrec.config import DataConfig, SyntheticConfig
    from tfrec.data.shard_writer import write_sharded

    work = args.work or tempfile.mkdtemp(prefix="tfrec-scale-")
    os.makedirs(work, exist_ok=True)
    rows = []
    for size in args.sizes:
        users, items = SIZES[size]
        synthetic = {"num_users": users, "num_items": items, "mean_interactions_per_user": 30, "seed": 0}
        for path in args.paths:
            run = os.path.join(work, f"{size}-{path}")
            shard_s = None
            if path == "in-memory":
                data = {"source": "synthetic", "synthetic": synthetic, "cache_dir": os.path.join(work, "cache")}
            else:
                shards = os.path.join(work, f"{size}-shards")
                if not os.path.exists(shards):
                    start = time.perf_counter()
                    write_sharded(DataConfig(synthetic=SyntheticConfig(**synthetic)), shards, log=lambda *_: None)
                    shard_s = time.perf_counter() - start
                data = {"source": "sharded", "path": shards}
            spec = {"data": data, "overrides": {"train.epochs": 1}, "run": run, "max_steps": args.max_steps}
            result = measure(spec, args.memory_limit_gb)
            rows.append((size, path, shard_s, result))
            print(f"{size} {path}: {json.dumps(result)}", flush=True)

    print(f"\ncost growth, synthetic data, {os.cpu_count()} CPU(s); epoch = one pass over the training interactions")
    header = (f"{'size':<6} {'path':<10} {'shard s':>8} {'prepare s':>10} {'examples/s':>11} {'epoch s':>10} "
              f"{'eval s':>8} {'eval users':>10} {'peak RSS GB':>12}")
    print(header)
    print("-" * len(header))
    for size, path, shard_s, r in rows:
        if r.get("out_of_memory"):
            print(f"{size:<6} {path:<10} {'':>8} out of memory at {r['peak_rss_gb']:.1f} GB (stopped)")
            continue
        epoch = f"{'~' if r['epoch_projected'] else ''}{r['epoch_s']:.0f}"
        print(f"{size:<6} {path:<10} {shard_s or 0:>8.0f} {r['prepare_s']:>10.1f} {r['examples_per_s']:>11,.0f} "
              f"{epoch:>10} {r['eval_s']:>8.1f} {r['eval_users']:>10,} {r['peak_rss_gb']:>12.2f}")
    base = {path: r for size, path, _, r in rows if size == args.sizes[0] and not r.get("out_of_memory")}
    for size, path, _, r in rows:
        if size != args.sizes[0] and path in base and not r.get("out_of_memory"):
            print(f"{size} {path} / {args.sizes[0]}: examples/s {r['examples_per_s'] / base[path]['examples_per_s']:.2f}x, "
                  f"peak RSS {r['peak_rss_gb'] / base[path]['peak_rss_gb']:.2f}x")


if __name__ == "__main__":
    main()
