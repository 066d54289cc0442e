"""Which towers pay on MovieLens 100K: warm and cold-start quality, and training cost.

    python benchmarks/retrieval_towers.py --movielens ../shared/data/movielens-100k-mm
    python benchmarks/retrieval_towers.py --variants multimodal sequential

Every model trains on the same split: 10% of the items are held out of
training entirely (cold items), and the rest is split temporally, each
user's last interaction in test. Models:

  id-only           user and item id embeddings only
  light-features    ids + user attributes + genres, year and title words
  multimodal        light features + MiniLM (BERT) overview + EfficientNet-Lite0 (ImageNet) poster at
                    224 px, frozen, cached, with the id skip path (``model.id_skip``)
  multimodal-b0     the same with the previous image encoder: EfficientNet-B0, random weights, 160 px
  multimodal-concat the same without the id skip path: ids only through the fusion MLP
  multimodal-rand   the same with a randomly initialised BERT of MiniLM's shape
  text-only         light features + MiniLM overview, no poster
  image-only        ids + the Lite0 (ImageNet) poster only: no text, no item features, so cold
                    items are ranked from the image alone
  image-only-rand   the same network with random weights: what the ImageNet weights are worth
  sequential        multimodal + the user's last 20 items through a causal Transformer
  sequential-b0     the same with the random-weight EfficientNet-B0 at 160 px

Warm: full ranking over the catalogue, seen items excluded. Cold: the held-out
items ranked among themselves for their users, next to random scores.
Throughput: examples/s of ``model.fit`` on the training split through the
training input pipeline (shuffled batches, features joined per batch, as
``tfrec train`` runs it; one warm-up epoch, then one timed epoch, no
callbacks), as a ratio to id-only measured in the same run; the one-off
catalogue encoding time is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import tfrec  # noqa: E402,F401
from tfrec.config import load_config  # noqa: E402
from tfrec.data.pipeline import interaction_dataset  # noqa: E402
from tfrec.evaluation.run_evaluation import evaluate_run  # noqa: E402
from tfrec.run_folder import RunFolder  # noqa: E402
from tfrec.training.experiment import Experiment  # noqa: E402
from tfrec.training.retrieval_trainer import train_retrieval  # noqa: E402

CONFIG = os.path.join(os.path.dirname(__file__), "..", "pipelines", "configs",
                      "retrieval_movielens_multimodal.yaml")
LITE0 = {"variant": "lite0", "image_size": 224}
IMAGE_ONLY = {"model.use_item_features": False, "model.content.text": None}
VARIANTS = {
    "id-only": {"model.use_user_features": False, "model.use_item_features": False,
                "model.content.mode": "none"},
    "light-features": {"model.content.mode": "none"},
    "multimodal": {"model.content.image": LITE0},
    "multimodal-b0": {"model.content.image": {"variant": "b0", "image_size": 160}},
    "multimodal-concat": {"model.id_skip": False},
    "multimodal-rand": {"model.content.text.random_init": True},
    "text-only": {"model.content.image": None},
    "image-only": {**IMAGE_ONLY, "model.content.image": LITE0},
    "image-only-rand": {**IMAGE_ONLY, "model.content.image": {**LITE0, "random_init": True}},
    "sequential": {"model.history.length": 20, "model.content.image": LITE0},
    "sequential-b0": {"model.history.length": 20, "model.content.image": {"variant": "b0", "image_size": 160}},
}


def fit_throughput(run_dir: str) -> float:
    """Examples per second of one ``model.fit`` epoch after a warm-up epoch."""
    import tf_keras as keras

    exp = Experiment.from_run(run_dir, log=lambda *_: None)
    model = exp.build_model()
    model.compile(optimizer=keras.optimizers.Adam(exp.config.train.learning_rate))
    ds = interaction_dataset(exp.split.train, exp.join, exp.config.train.batch_size, shuffle_seed=0,
                             row_features=exp.train_features())
    model.fit(ds, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0)
    return len(exp.split.train) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", default="../shared/data/movielens-100k-mm")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per model")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--throughput-rounds", type=int, default=5, help="timed epochs per variant, interleaved")
    parser.add_argument("--out", default="", help="folder for runs and results (default: a temp folder)")
    args = parser.parse_args()

    out = args.out or tempfile.mkdtemp(prefix="tfrec-towers-")
    rows = {}
    for name in args.variants:
        for seed in range(args.seeds):
            config = load_config(CONFIG, overrides={
                "data.path": args.movielens, "data.cold_item_fraction": 0.1, "train.seed": 42 + seed,
                **VARIANTS[name]})
            run = os.path.join(out, f"{name}-{seed}")
            reused = RunFolder(run).finished  # an earlier call's run, kept
            start = time.perf_counter()
            if not reused:
                train_retrieval(config, run, log=lambda *_: None)
            train_seconds = time.perf_counter() - start
            results = evaluate_run(run, log=lambda *_: None)
            summary = json.load(open(RunFolder(run).train_summary_file))
            row = rows.setdefault(name, {"warm": [], "cold": [], "random": [], "throughput": [], "prep": []})
            row["warm"].append(results["warm"][config.name])
            row["cold"].append(results["cold_start"][config.name])
            row["random"].append(results["cold_start"]["random"])
            if not reused:
                row["prep"].append(train_seconds - summary["train_seconds"])
            print(f"{name} seed {seed}: {'reused' if reused else 'trained'} ({train_seconds:.0f}s)", flush=True)
    # Throughput last, the variants taking turns, so a busy spell of the machine hits them all alike.
    for _ in range(args.throughput_rounds):
        for name in rows:
            rows[name]["throughput"].append(fit_throughput(os.path.join(out, f"{name}-0")))

    def mean(values, key=None):
        values = [v[key] for v in values] if key else values
        return (float(np.mean(values)), float(np.std(values))) if values else (float("nan"), float("nan"))

    def throughput(row):
        return float(np.median(row["throughput"])) if row["throughput"] else float("nan")

    base = throughput(rows["id-only"]) if "id-only" in rows else None
    reference = "multimodal" if "multimodal" in rows else None
    header = (f"{'model':<18} {'warm R@10':>14} {'warm N@10':>14} {'cold R@10':>14} {'cold N@10':>14} "
              f"{'random R@10':>11} {'train ex/s':>10} {'vs id-only':>10} {'prep s':>7}")
    print(f"\nMovieLens 100K, temporal leave-last-out, 10% of items held out as cold; "
          f"mean ± std over {args.seeds} seed(s)")
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        w_r, w_n = mean(row["warm"], "recall@10"), mean(row["warm"], "ndcg@10")
        c_r, c_n = mean(row["cold"], "recall@10"), mean(row["cold"], "ndcg@10")
        rnd = mean(row["random"], "recall@10")[0]
        thr = throughput(row)
        ratio = f"{base / thr:.2f}x" if base and thr == thr else "-"
        print(f"{name:<18} {w_r[0]:.4f}±{w_r[1]:.4f} {w_n[0]:.4f}±{w_n[1]:.4f} {c_r[0]:.4f}±{c_r[1]:.4f} "
              f"{c_n[0]:.4f}±{c_n[1]:.4f} {rnd:>11.4f} {thr:>10.0f} {ratio:>10} {mean(row['prep'])[0]:>7.0f}")
    print(f"\n'train ex/s': median of {args.throughput_rounds} timed epochs per model, the models taking turns;"
          "\n'vs id-only': how many times longer a training example takes than with the id-only model;"
          "\n'prep s': data loading, encoder export and catalogue encoding before the first epoch.")
    print("\nper seed, cold NDCG@10 / warm NDCG@10:")
    for name, row in rows.items():
        pairs = [f"{c['ndcg@10']:.4f}/{w['ndcg@10']:.4f}" for c, w in zip(row["cold"], row["warm"])]
        print(f"  {name:<18} {'  '.join(pairs)}")
    if reference and "sequential" in rows:
        ratio = mean(rows["sequential"]["warm"], "ndcg@10")[0] / mean(rows[reference]["warm"], "ndcg@10")[0]
        print(f"sequential / multimodal warm NDCG@10: {ratio:.2f}x")
    with open(os.path.join(out, "retrieval_towers.json"), "w") as f:
        json.dump(rows, f, indent=2)
    print(f"runs and results in {out}")


if __name__ == "__main__":
    main()
