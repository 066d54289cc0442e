"""Run evaluation with items held out of training: a warm table and a cold-start table."""

import numpy as np

from tfrec.evaluation.run_evaluation import evaluate_run, warm_items
from tfrec.training.experiment import Experiment


def test_cold_items_are_ranked_on_their_own_and_left_out_of_the_warm_catalogue(tiny_multimodal_run):
    lines = []
    results = evaluate_run(str(tiny_multimodal_run), log=lines.append)
    exp = Experiment.from_run(str(tiny_multimodal_run), log=lambda *_: None)
    assert len(exp.cold_items) == round(0.1 * exp.dataset.interactions.item_id.nunique())
    assert not set(exp.cold_items) & set(exp.split.train.item_id)  # never trained on
    warm = warm_items(exp)
    assert len(warm) == len(exp.item_ids) - len(exp.cold_items) and not np.isin(warm, exp.cold_items).any()
    assert set(results) == {"warm", "cold_start"}
    cold = results["cold_start"]
    assert set(cold) == {"random", "tiny-mm"}
    assert cold["tiny-mm"]["users"] == exp.cold_test.user_id.nunique()
    for metrics in (*results["warm"].values(), *cold.values()):
        assert 0.0 <= metrics["recall@10"] <= 1.0
    assert any("cold start" in line for line in lines)
