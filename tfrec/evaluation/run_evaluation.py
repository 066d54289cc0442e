"""Evaluates a trained run on its test split next to the popularity baseline.

Same harness for both: every test user is ranked against the whole catalogue,
the items they interacted with in train and validation are excluded, and
the metrics come from one code path.
"""

from __future__ import annotations

import os

from tfrec.evaluation.embedding_scorer import EmbeddingScorer
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, format_table, save_json
from tfrec.models.popularity import PopularityBaseline
from tfrec.training.experiment import Experiment

RESULTS_FILE = "evaluation.json"


def evaluate_run(run_dir: str, log=print) -> dict[str, dict[str, float]]:
    """Test-split metrics for the run's model and the popularity baseline; also saved as JSON."""
    exp = Experiment.from_run(run_dir)
    model = exp.load_model(run_dir)
    test = exp.split.test
    eval_set = EvaluationSet.from_frames(
        seen=exp.seen_before_test(), target=test, user_ids=test.user_id.unique(), item_ids=exp.item_ids
    )
    ks = tuple(exp.config.eval.ks)
    popularity = PopularityBaseline(exp.item_ids).fit(exp.split.train)
    results = {
        "popularity": evaluate(popularity.score, eval_set, ks=ks, batch_size=exp.config.eval.batch_size),
        exp.config.name: evaluate(EmbeddingScorer(model, exp.join, exp.item_ids), eval_set, ks=ks,
                                  batch_size=exp.config.eval.batch_size),
    }
    save_json(results, os.path.join(run_dir, RESULTS_FILE))
    log(f"{exp.dataset.name}, {exp.split.method} split, test users {len(test.user_id.unique()):,}, "
        f"full ranking over {len(exp.item_ids):,} items, seen items excluded")
    log(format_table(results))
    return results
