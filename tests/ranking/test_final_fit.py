"""``train.final_fit``: the epochs chosen on validation, then one more fit with the validation data in."""

import json

from tfrec.config import RankingConfig, from_dict
from tfrec.evaluation.ranking_evaluation import rmse
from tfrec.evaluation.two_stage_scorer import PairScorer
from tfrec.models.ranking import RATING
from tfrec.training.ranking_experiment import RankingExperiment
from tfrec.training.ranking_trainer import train_ranking

from tests.ranking.conftest import QUIET, tiny_ranking_values


def _validation_rmse(run) -> float:
    exp = RankingExperiment.from_run(str(run), **QUIET)
    rows = exp.val_rows
    scores = PairScorer(exp.load_model(str(run)), exp.base.join, RATING)(rows.user_id, rows.item_id)
    return rmse(rows.rating, scores)


def test_final_fit_retrains_for_the_chosen_epochs_with_the_validation_rows_in(tiny_config_path, tiny_ranking_run,
                                                                              tmp_path):
    run = tmp_path / "final"
    values = tiny_ranking_values(tiny_config_path, train={"final_fit": True})
    summary = train_ranking(from_dict(RankingConfig, values), str(run), **QUIET)
    plain = json.loads((tiny_ranking_run / "train_summary.json").read_text())
    assert summary["best_epoch"] == plain["best_epoch"]  # the same seed chose the same epochs
    assert summary["final_fit"]["epochs"] == summary["best_epoch"]
    # The kept model has learned the validation rows, which the best epoch's model never saw.
    assert _validation_rmse(run) < _validation_rmse(tiny_ranking_run)
