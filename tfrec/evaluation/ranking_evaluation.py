"""Test figures of a ranking run: pointwise metrics, and two-stage against retrieval alone.

* pointwise (``rating``/``engagement`` tasks): RMSE of the predicted ratings and
  AUC of the engagement probabilities on the test split's interaction rows
  (engaged = rating >= ``model.engagement_threshold``);
* two-stage (when a retrieval run of the same split is known, e.g. the one the
  ranker's candidate lists came from): full-ranking NDCG/Recall@k of
  "retrieve top-k, rank with the ranker" next to retrieval alone, in one
  harness, seen items excluded.
"""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, format_table, save_json
from tfrec.evaluation.two_stage_scorer import PairScorer, TwoStageScorer
from tfrec.models.ranking import ENGAGEMENT, RATING
from tfrec.run_folder import RANKING, RunFolder
from tfrec.training.ranking_experiment import RankingExperiment


def rmse(labels, predictions) -> float:
    """Root mean squared error of two equal-length arrays."""
    labels, predictions = np.asarray(labels, np.float64), np.asarray(predictions, np.float64)
    if labels.shape != predictions.shape or labels.size == 0:
        raise ValueError(f"rmse needs two equal, non-empty shapes, got {labels.shape} and {predictions.shape}")
    return float(np.sqrt(np.mean((labels - predictions) ** 2)))


def pointwise_metrics(exp: RankingExperiment, model, frame) -> dict[str, float]:
    """``rmse`` and/or ``auc`` of the model's rating / engagement outputs on interaction rows."""
    results = {"rows": len(frame)}
    users, items = frame.user_id.to_numpy(), frame.item_id.to_numpy()
    if RATING in model.task_weights:
        results["rmse"] = rmse(frame.rating, PairScorer(model, exp.base.join, RATING)(users, items))
    if ENGAGEMENT in model.task_weights:
        labels = (frame.rating.to_numpy() >= model.engagement_threshold).astype(np.float32)
        if 0 < labels.sum() < len(labels):
            auc = keras.metrics.AUC()
            auc.update_state(labels, PairScorer(model, exp.base.join, ENGAGEMENT)(users, items))
            results["auc"] = float(auc.result().numpy())
    return results


def two_stage_comparison(exp: RankingExperiment, model, k: int, ks=(10, 20), batch_size: int = 256,
                         log=print) -> dict[str, dict[str, float]]:
    """Full-ranking test metrics of retrieval alone and of retrieval top-``k`` + this ranker."""
    split = exp.base.split
    seen = exp.base.seen_before_test()
    eval_set = EvaluationSet.from_frames(seen=seen, target=split.test, user_ids=split.test.user_id.unique(),
                                         item_ids=exp.item_ids)
    retrieval = exp.retrieval_scorer(seen, log=log)
    ranker = PairScorer(model, exp.base.join, histories=exp.user_histories(seen))
    two_stage = TwoStageScorer(retrieval, ranker, exp.item_ids, seen, k)
    return {
        "retrieval": evaluate(retrieval, eval_set, ks, batch_size),
        f"retrieval top-{k} + ranker": evaluate(two_stage, eval_set, ks, batch_size),
    }


def evaluate_ranking_run(run_dir, retrieval_run: str | None = None, k: int | None = None,
                         log=print) -> dict:
    """Prints and saves (``ranking_evaluation.json``) the run's test figures."""
    with RunFolder(run_dir).reading(RANKING) as run:
        return _evaluate(run, retrieval_run, k, log)


def _evaluate(run: RunFolder, retrieval_run, k, log) -> dict:
    exp = RankingExperiment.from_run(run, log=log)
    if retrieval_run:
        exp.config.candidates.retrieval_run = retrieval_run
    model = exp.load_model()
    split = exp.base.split
    results = {}
    if {RATING, ENGAGEMENT} & set(model.task_weights):
        results["pointwise"] = pointwise_metrics(exp, model, split.test)
        shown = "  ".join(f"{name} {value:.4f}" for name, value in results["pointwise"].items() if name != "rows")
        log(f"{exp.base.dataset.name}, {split.method} split: test {shown} "
            f"({len(split.test):,} rows; trained on {len(exp.train_rows):,}, validated on {len(exp.val_rows):,})")
    if exp.config.candidates.retrieval_run:
        k = k or exp.config.candidates.k
        results["two_stage"] = two_stage_comparison(exp, model, k, tuple(exp.config.eval.ks), log=log)
        log(f"{exp.base.dataset.name}, {split.method} split, full ranking over {len(exp.item_ids):,} items, "
            f"seen items excluded; ranker on the top {k} retrieved")
        log(format_table(results["two_stage"], keys=[f"{m}@{kk}" for kk in exp.config.eval.ks
                                                      for m in ("recall", "ndcg")] + ["mrr", "users"]))
    save_json(results, run.ranking_evaluation_file)
    return results
