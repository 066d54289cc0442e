"""Ranking-model figures on MovieLens 100K, each printed by this one command.

(a) rating prediction, the TFRS tutorials' protocol: random 80/20 split with a
    fixed seed (``train.seed``, 42), the ranker of
    ``pipelines/configs/ranking_movielens.yaml`` (DCN-v2 + deep MLP + user/item
    bias terms, user and item features), early stopping on validation RMSE
    over 10% of the training 80%; test RMSE over the 20,000 test ratings.
    For reference, the TFRS DCN tutorial reports 0.933 and the basic ranking
    tutorial 1.11 on their own random split.
(b) two-stage recommendation, temporal leave-last-out, full ranking over the
    whole catalogue (seen items excluded): the retrieval model of
    ``retrieval_movielens.yaml`` alone, and its top 100 re-ranked by the
    listwise ranker of ``ranking_movielens_two_stage.yaml`` (trained on each
    user's validation item against that retrieval model's top-100 lists).

    python benchmarks/ranking.py [--movielens PATH] [--parts rating two-stage] [--work-dir DIR]

Runs go to ``--work-dir`` (a temporary folder by default); an existing
retrieval run there is reused. Results are saved as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

from tfrec.config import RankingConfig, load_config
from tfrec.evaluation.full_ranking import format_table, save_json
from tfrec.evaluation.ranking_evaluation import pointwise_metrics, two_stage_comparison
from tfrec.training.ranking_experiment import RankingExperiment
from tfrec.training.ranking_trainer import train_ranking
from tfrec.training.retrieval_trainer import train_retrieval

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "pipelines" / "configs"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "movielens-100k-mm"


def quiet(*_):
    pass


def rating_benchmark(data: str, work_dir: str, seed: int) -> dict:
    run = os.path.join(work_dir, f"rating-seed{seed}")
    config = load_config(str(CONFIGS / "ranking_movielens.yaml"), RankingConfig,
                         overrides={"data.path": data, "train.seed": seed})
    start = time.time()
    summary = train_ranking(config, run, log=quiet)
    exp = RankingExperiment.from_run(run, log=quiet)
    metrics = pointwise_metrics(exp, exp.load_model(run), exp.base.split.test)
    metrics.update(best_epoch=summary["best_epoch"], best_val_rmse=summary["best_val_rmse"],
                   seconds=round(time.time() - start, 1))
    return metrics


def two_stage_benchmark(data: str, work_dir: str, candidates: int) -> dict:
    retrieval_run = os.path.join(work_dir, "retrieval")
    if not os.path.exists(os.path.join(retrieval_run, "train_summary.json")):
        train_retrieval(load_config(str(CONFIGS / "retrieval_movielens.yaml"), overrides={"data.path": data}),
                        retrieval_run, log=quiet)
    run = os.path.join(work_dir, "two-stage-ranker")
    config = load_config(str(CONFIGS / "ranking_movielens_two_stage.yaml"), RankingConfig,
                         overrides={"data.path": data, "candidates.retrieval_run": retrieval_run,
                                    "candidates.k": candidates})
    train_ranking(config, run, log=quiet)
    exp = RankingExperiment.from_run(run, log=quiet)
    return two_stage_comparison(exp, exp.load_model(run), candidates, ks=(10, 20), log=quiet)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", default=str(DEFAULT_DATA), help="the movielens-100k-mm folder")
    parser.add_argument("--parts", nargs="+", default=["rating", "two-stage"], choices=["rating", "two-stage"])
    parser.add_argument("--seed", type=int, default=42, help="rating split and training seed")
    parser.add_argument("--candidates", type=int, default=100, help="retrieved items the ranker re-ranks")
    parser.add_argument("--work-dir", help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.movielens, "ml-100k", "u.data")):
        print(f"MovieLens 100K not found at {args.movielens} (expected ml-100k/u.data there)", file=sys.stderr)
        return 2
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="tfrec-ranking-bench-")
    results = {}
    if "rating" in args.parts:
        results["rating"] = rating_benchmark(args.movielens, work_dir, args.seed)
        r = results["rating"]
        print(f"(a) MovieLens 100K rating prediction, random 80/20 split (seed {args.seed}): "
              f"test RMSE {r['rmse']:.4f} over {r['rows']:,} ratings "
              f"(best epoch {r['best_epoch']}, validation RMSE {r['best_val_rmse']:.4f}, {r['seconds']:.0f}s)")
    if "two-stage" in args.parts:
        results["two_stage"] = two_stage_benchmark(args.movielens, work_dir, args.candidates)
        print(f"\n(b) MovieLens 100K, temporal leave-last-out, full ranking over 1,682 items, seen items excluded")
        print(format_table(results["two_stage"], keys=["recall@10", "ndcg@10", "recall@20", "ndcg@20", "mrr",
                                                       "users"]))
    if args.out:
        save_json(results, args.out)
    print(f"\nruns in {work_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
