"""A ranking training killed mid-run resumes from its backup, through the same fit loop as retrieval."""

import json

import pytest
import yaml

from tests.ranking.conftest import tiny_ranking_values
from tests.training.helpers import backed_up_epochs, kill_when_backed_up

EPOCHS = 5
OVERRIDES = {"train.epochs": EPOCHS, "train.early_stopping_patience": EPOCHS, "train.keep_checkpoints": 2,
             "train.histogram_freq": 0}


@pytest.fixture(scope="module")
def ranking_config(tiny_config_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("ranking_resume") / "ranking.yaml"
    path.write_text(yaml.safe_dump(tiny_ranking_values(tiny_config_path)))
    return path


def test_a_killed_ranking_run_resumes_where_it_stopped(ranking_config, tmp_path, capsys):
    from tfrec.cli import main
    from tfrec.config import RankingConfig, load_config
    from tfrec.training.ranking_trainer import train_ranking

    run = tmp_path / "run"
    spec = {"config": str(ranking_config), "ranking": True, "overrides": OVERRIDES, "run": str(run),
            "out": str(tmp_path / "out.json"), "slow_epoch_seconds": 1.0}
    kill_when_backed_up(spec)
    done = backed_up_epochs(run)
    assert 2 <= done < EPOCHS
    assert json.loads((run / "run.json").read_text())["status"] == "training"
    # The kill left the run unloadable for other commands until it has finished.
    assert main(["evaluate-ranking", "--run", str(run)]) == 2
    assert "has not finished training" in capsys.readouterr().err

    config = load_config(str(ranking_config), RankingConfig, overrides=OVERRIDES)
    resumed = train_ranking(config, str(run), log=lambda *_: None)
    full = train_ranking(config, str(tmp_path / "uninterrupted"), log=lambda *_: None)
    assert resumed["resumed_at_epoch"] == done
    assert resumed["epochs_run"] == full["epochs_run"] == EPOCHS
    assert resumed["steps"] == full["steps"]
    assert [e["epoch"] for e in json.loads((run / "epoch_logs.json").read_text())] == list(range(1, EPOCHS + 1))
    assert sorted(p.name for p in (run / "checkpoints").glob("*.index")) == [f"epoch-{EPOCHS - 1}.index",
                                                                            f"epoch-{EPOCHS}.index"]
    assert main(["evaluate-ranking", "--run", str(run)]) == 0
