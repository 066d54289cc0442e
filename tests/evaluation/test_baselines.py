"""``tfrec evaluate --baselines``: strong baselines fitted on the run's own training split, in the model's table."""

import json
import re

import numpy as np
import pytest
import yaml

from tfrec.cli import main
from tfrec.evaluation.baselines import BASELINES, parse_baselines
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate
from tfrec.evaluation.run_evaluation import item_properties, warm_items
from tfrec.errors import UserError
from tfrec.models.ease import EASE
from tfrec.training.experiment import Experiment


def _row(table: str, name: str) -> list[str]:
    return next(line.split() for line in table.splitlines() if line.startswith(f"{name} "))


def _chosen_l2(out: str) -> float:
    return float(re.search(r"^EASE: l2 (\S+) chosen on validation", out, re.M).group(1))


def _ease_test_metrics(exp, train, l2):
    """EASE with ``l2`` fitted on ``train``, ranked on the run's test split as ``tfrec evaluate`` ranks."""
    test = exp.split.test[exp.split.test.user_id.isin(set(exp.evaluation_users("test")))]
    items = warm_items(exp)
    eval_set = EvaluationSet.from_frames(exp.seen_before_test(), test, test.user_id.unique(), items)
    return evaluate(EASE(items, l2=l2).fit(train).score, eval_set, tuple(exp.config.eval.ks))


def test_evaluate_prints_the_baselines_fitted_on_the_runs_training_split(tiny_run, capsys):
    assert main(["evaluate", "--run", str(tiny_run), "--baselines", "ease,ials"]) == 0
    out = capsys.readouterr().out
    results = json.loads((tiny_run / "evaluation.json").read_text())["warm"]
    assert list(results) == ["popularity", "EASE", "iALS", "tiny"]
    header = next(line.split() for line in out.splitlines() if line.startswith("model "))
    for name in results:  # every row printed, with the accuracy and beyond-accuracy columns
        row = _row(out, name)
        for column in ("recall@10", "ndcg@10", "novelty@10", "popularity_lift@10", "diversity@10"):
            assert row[header.index(column)] == f"{results[name][column]:.4f}"
    # A progress line per candidate: the value, its validation score, elapsed time and what is left.
    ease_lines = [line for line in out.splitlines() if line.strip().startswith("EASE l2=")]
    assert len(ease_lines) >= 6 and all("validation ndcg@10" in line and "ETA" in line for line in ease_lines)
    assert sum(line.strip().startswith("iALS factors=") for line in out.splitlines()) == 8
    # EASE's row is EASE with the chosen l2 fitted on the run's stored training split.
    exp = Experiment.from_run(str(tiny_run), log=lambda *_: None)
    expected = _ease_test_metrics(exp, exp.split.train, _chosen_l2(out))
    assert results["EASE"]["ndcg@10"] == pytest.approx(expected["ndcg@10"])
    assert results["EASE"]["recall@20"] == pytest.approx(expected["recall@20"])


def test_an_unknown_baseline_is_one_line_listing_the_known_ones(tiny_run, capsys):
    before = (tiny_run / "evaluation.json").read_text() if (tiny_run / "evaluation.json").exists() else None
    assert main(["evaluate", "--run", str(tiny_run), "--baselines", "ease,knn"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "'knn'" in err and ", ".join(BASELINES) in err and "Traceback" not in err
    assert captured.out == ""  # refused before anything was evaluated
    after = (tiny_run / "evaluation.json").read_text() if (tiny_run / "evaluation.json").exists() else None
    assert after == before
    with pytest.raises(UserError, match="no baseline named"):
        parse_baselines(" , ")
    assert parse_baselines("EASE, ials,ease") == ("ease", "ials")


def test_diversity_is_skipped_with_a_reason_without_an_item_category(tiny_run):
    exp = Experiment.from_run(str(tiny_run), log=lambda *_: None)
    lines = []
    assert item_properties(exp, exp.item_ids, lines.append).categories is not None and not lines
    exp.dataset.item_categorical = ()
    properties = item_properties(exp, exp.item_ids, lines.append)
    assert properties.categories is None
    assert lines == ["diversity@k skipped: the data set has no item categorical column to compare items by"]


def test_a_sharded_run_fits_the_baselines_on_every_training_shard(tmp_path, capsys):
    from tfrec.config import DataConfig, SyntheticConfig
    from tfrec.data.shard_writer import write_sharded
    from tfrec.data.sharded import ShardedDataset

    shards = tmp_path / "shards"
    synthetic = SyntheticConfig(num_users=400, num_items=100, mean_interactions_per_user=10, block_users=128,
                                image_size=8, seed=4)
    write_sharded(DataConfig(synthetic=synthetic, cache_dir=str(tmp_path / "cache")), str(shards),
                  shard_size=1500, log=lambda *_: None)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "name": "streamed", "data": {"source": "sharded", "path": str(shards), "eval_users": 60},
        "model": {"embedding_dim": 8, "id_embedding_dim": 8, "feature_embedding_dim": 4, "hidden_dims": [8]},
        "train": {"batch_size": 128, "epochs": 1, "histogram_freq": 0}}))
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--run", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--baselines", "ease"]) == 0
    out = capsys.readouterr().out
    assert "training interactions from" in out
    results = json.loads((run / "evaluation.json").read_text())["warm"]
    exp = Experiment.from_run(str(run), log=lambda *_: None)
    every_row = ShardedDataset.open(str(shards)).frame("train")
    assert len(every_row) > len(exp.split.train)  # the run folder keeps only the evaluated users' rows
    expected = _ease_test_metrics(exp, every_row, _chosen_l2(out))
    assert results["EASE"]["ndcg@10"] == pytest.approx(expected["ndcg@10"])
    assert results["EASE"]["recall@10"] == pytest.approx(expected["recall@10"])
    assert np.isfinite(results["EASE"]["novelty@10"])
