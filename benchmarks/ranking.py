"""Ranking-model figures on MovieLens 100K, each printed by this one command.

(a) rating prediction, the TFRS tutorials' protocol: random 80/20 split with a
    fixed seed (``train.seed``, 42), the ranker of
    ``pipelines/configs/ranking_movielens.yaml`` (DCN-v2 + deep MLP + user/item
    bias terms, user and item features), early stopping on validation RMSE
    over 10% of the training 80%; test RMSE over the 20,000 test ratings.
    For reference, the TFRS DCN tutorial reports 0.933 and the basic ranking
    tutorial 1.11 on their own random split.
(b) two-stage recommendation, temporal leave-last-out, full ranking over the
    whole catalogue (seen items excluded): the sequential retrieval model of
    ``retrieval_movielens_sequential.yaml`` alone, and its top 100 re-ranked
    by the listwise ranker of ``ranking_movielens_two_stage.yaml``, for each of
    ``--seeds`` training seeds (retrieval and ranker trained anew per seed),
    then the mean, the standard deviation and the two-stage / retrieval ratio.
    A third row re-orders the same top 100 without the learnt ranker: the
    standardised retrieval score plus a weighted sum of the ranker's item-item
    co-occurrence features, the weights chosen on the validation items (what
    those features give by themselves).

    python benchmarks/ranking.py [--movielens PATH] [--parts rating two-stage] [--seeds 3] [--work-dir DIR]

Runs go to ``--work-dir`` (a temporary folder by default); an existing
retrieval run there is reused. Results are saved as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

from tfrec.config import RankingConfig, load_config
from tfrec.data.candidate_lists import build_candidate_lists
from tfrec.data.history import history_rows
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, format_table, save_json
from tfrec.evaluation.ranking_evaluation import pointwise_metrics, two_stage_comparison
from tfrec.evaluation.two_stage_scorer import TwoStageScorer
from tfrec.models.listwise import ndcg_at_k
from tfrec.run_folder import RunFolder
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
    summary = train_ranking(config, run, log=quiet, overwrite=True)
    exp = RankingExperiment.from_run(run, log=quiet)
    metrics = pointwise_metrics(exp, exp.load_model(run), exp.base.split.test)
    metrics.update(best_epoch=summary["best_epoch"], best_val_rmse=summary["best_val_rmse"],
                   seconds=round(time.time() - start, 1))
    return metrics


class CooccurrenceBlend:
    """``(users, items, retrieval scores) -> scores``: the retrieval score standardised as the
    ranker's input is, plus ``weights`` times the ranker's item-item features of the pair."""

    def __init__(self, exp: RankingExperiment, model, histories: dict, weights=(0.0, 0.0, 0.0)):
        self.layer, self.histories, self.length = model.item_item, histories, model.history_length
        self.mean, self.std = exp.stats["retrieval_score_mean"], exp.stats["retrieval_score_std"]
        self.weights = np.asarray(weights, np.float32)

    def features(self, users, items) -> np.ndarray:
        import tensorflow as tf

        histories = history_rows(self.histories, np.asarray(users, dtype=str), self.length)
        return self.layer(tf.constant(histories), tf.constant(np.asarray(items, dtype=str))).numpy()

    def __call__(self, users, items, retrieval_scores) -> np.ndarray:
        return (np.asarray(retrieval_scores) - self.mean) / self.std + self.features(users, items) @ self.weights


def blend_benchmark(exp: RankingExperiment, model, k: int, ks, grid=(0.0, 0.1, 0.2, 0.4, 0.8)) -> dict:
    """Test metrics of retrieval's top ``k`` re-ordered by :class:`CooccurrenceBlend`, its weights
    the best NDCG@10 of the validation items' top ``k`` (retrieved from the training split)."""
    split = exp.base.split
    # Lists whose target retrieval missed are dropped; they count as 0 in the mean over users.
    lists = build_candidate_lists(exp.retrieval_scorer(split.train, log=quiet), exp.item_ids, split.val,
                                  split.train, k, include_positive=False)
    blend = CooccurrenceBlend(exp, model, exp.user_histories(split.train))
    standardized = (lists.retrieval_scores - blend.mean) / blend.std
    size = lists.item_ids.shape[1]
    features = blend.features(np.repeat(lists.user_ids, size), lists.item_ids.ravel()).reshape(len(lists), size, -1)

    def validation_ndcg(weights) -> float:
        scores = standardized + features @ np.asarray(weights, np.float32)
        return float(ndcg_at_k(lists.engaged, scores, 10).numpy().sum()) / len(split.val)

    weights = max(itertools.product(grid, repeat=features.shape[-1]), key=validation_ndcg)
    seen_test = exp.base.seen_before_test()
    eval_set = EvaluationSet.from_frames(seen=seen_test, target=split.test, user_ids=split.test.user_id.unique(),
                                         item_ids=exp.item_ids)
    chosen = CooccurrenceBlend(exp, model, exp.user_histories(seen_test), weights)
    metrics = evaluate(TwoStageScorer(exp.retrieval_scorer(seen_test, log=quiet), chosen, exp.item_ids, seen_test, k),
                       eval_set, ks)
    return {**metrics, "weights": list(weights), "validation_ndcg@10": validation_ndcg(weights)}


def two_stage_benchmark(data: str, work_dir: str, candidates: int, seed: int) -> dict:
    retrieval_run = os.path.join(work_dir, f"retrieval-seed{seed}")
    if not RunFolder(retrieval_run).finished:
        train_retrieval(load_config(str(CONFIGS / "retrieval_movielens_sequential.yaml"),
                                    overrides={"data.path": data, "train.seed": seed}), retrieval_run, log=quiet)
    run = os.path.join(work_dir, f"two-stage-ranker-seed{seed}")
    config = load_config(str(CONFIGS / "ranking_movielens_two_stage.yaml"), RankingConfig,
                         overrides={"data.path": data, "candidates.retrieval_run": retrieval_run,
                                    "candidates.k": candidates, "train.seed": seed})
    summary = train_ranking(config, run, log=quiet, overwrite=True)
    exp = RankingExperiment.from_run(run, log=quiet)
    model = exp.load_model(run)
    results = two_stage_comparison(exp, model, candidates, ks=(10, 20), log=quiet)
    results[f"co-occurrence blend of the top-{candidates}"] = blend_benchmark(exp, model, candidates, (10, 20))
    results["lists"] = exp.stats.get("lists", {})
    results["validation_ndcg_at_10"] = {"retrieval order": summary["validation_retrieval_ndcg_at_10"],
                                        "ranker": summary["best_val_ndcg_at_10"]}
    return results


def model_metrics(result: dict) -> dict:
    """The per-model metric tables of one seed's result (without its list counts and validation figures)."""
    return {m: v for m, v in result.items() if isinstance(v, dict) and "ndcg@10" in v}


def summarize(per_seed: list[dict], keys) -> dict:
    """Mean and standard deviation over seeds of each model's metrics."""
    out = {}
    for model in model_metrics(per_seed[0]):
        for stat, fn in (("mean", np.mean), ("sd", np.std)):
            out[f"{model} ({stat})"] = {k: float(fn([r[model][k] for r in per_seed])) for k in keys}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", default=str(DEFAULT_DATA), help="the movielens-100k-mm folder")
    parser.add_argument("--parts", nargs="+", default=["rating", "two-stage"], choices=["rating", "two-stage"])
    parser.add_argument("--seed", type=int, default=42, help="rating split and training seed")
    parser.add_argument("--seeds", type=int, default=3, help="two-stage: training seeds (42, 1, 2, ...)")
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
        keys = ["recall@10", "ndcg@10", "recall@20", "ndcg@20", "mrr"]
        seeds = [42, *range(1, args.seeds)][:args.seeds]
        per_seed = {}
        print(f"\n(b) MovieLens 100K, temporal leave-last-out, full ranking over 1,682 items, seen items excluded; "
              f"sequential retrieval alone vs its top {args.candidates} re-ranked")
        for seed in seeds:
            r = per_seed[seed] = two_stage_benchmark(args.movielens, work_dir, args.candidates, seed)
            v = r["validation_ndcg_at_10"]
            print(f"\nseed {seed}: {r['lists']['train']['lists']:,} training lists; validation lists NDCG@10 "
                  f"{v['retrieval order']:.4f} in retrieval order, {v['ranker']:.4f} ranked")
            print(format_table(model_metrics(r), keys=keys + ["users"]))
        summary = summarize(list(per_seed.values()), keys)
        ranked = [m for m in summary if m.startswith("retrieval top-")]
        print(f"\nover {len(seeds)} seeds ({', '.join(map(str, seeds))}):")
        print(format_table(summary, keys=keys))
        base, two = summary["retrieval (mean)"], summary[ranked[0]]
        wins = sum(v["ndcg@10"] > r["retrieval"]["ndcg@10"] for r in per_seed.values()
                   for m, v in model_metrics(r).items() if m.startswith("retrieval top-"))
        print(f"two-stage / retrieval: NDCG@10 {two['ndcg@10'] / base['ndcg@10']:.3f}x, "
              f"Recall@10 {two['recall@10'] / base['recall@10']:.3f}x; two-stage ahead on NDCG@10 in "
              f"{wins} of {len(seeds)} seeds")
        results["two_stage"] = {"per_seed": per_seed, "summary": summary}
    if args.out:
        save_json(results, args.out)
    print(f"\nruns in {work_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
