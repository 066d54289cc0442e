"""Fixtures of the ranking tests: tiny ranking runs on the tiny synthetic data, and their exports."""

import pathlib

import pytest
import yaml

from tfrec.config import RankingConfig, from_dict

QUIET = dict(log=lambda *_: None)


def tiny_ranking_values(tiny_config_path: pathlib.Path, **sections) -> dict:
    """A ranking config dict on the tiny retrieval config's data (same data, same split)."""
    data = yaml.safe_load(tiny_config_path.read_text())["data"]
    values = {
        "name": "tiny-ranking",
        "data": data,
        "model": {"tasks": {"rating": 1.0, "engagement": 0.5}, "id_embedding_dim": 8, "feature_embedding_dim": 4,
                  "deep_dims": [16], "projection_dim": 4},
        "train": {"batch_size": 256, "epochs": 2, "learning_rate": 0.01, "early_stopping_patience": 1},
    }
    for name, section in sections.items():
        values.setdefault(name, {}).update(section)
    return values


@pytest.fixture(scope="session")
def tiny_ranking_run(tiny_config_path, tmp_path_factory) -> pathlib.Path:
    """A rating + engagement ranker trained on the tiny data's interaction rows."""
    from tfrec.training.ranking_trainer import train_ranking

    run = tmp_path_factory.mktemp("runs") / "tiny_ranking"
    train_ranking(from_dict(RankingConfig, tiny_ranking_values(tiny_config_path)), str(run), **QUIET)
    return run


@pytest.fixture(scope="session")
def tiny_listwise_run(tiny_config_path, tiny_run, tmp_path_factory) -> pathlib.Path:
    """A listwise + engagement ranker trained on lists retrieved by ``tiny_run`` (validation
    items) and by a model of the data two interactions per user earlier (each user's latest two
    training items); it reads the retrieval score, the activity features, the user's last 4 items,
    their co-occurrences with the candidate and the items' cached text and image vectors."""
    from tfrec.training.ranking_trainer import train_ranking

    values = tiny_ranking_values(
        tiny_config_path,
        candidates={"retrieval_run": str(tiny_run), "k": 20, "include_positive": False, "earlier_items": 2},
        model={"tasks": {"listwise": 1.0, "engagement": 0.2}, "use_retrieval_score": True,
               "activity_features": True, "history": {"length": 4, "dim": 8, "encoder": "mean"},
               "item_item": {"neighbours": 5},
               "content": {"mode": "cached", "text": {"preset": "tiny", "sequence_length": 16},
                           "image": {"variant": "tiny", "image_size": 32}, "projection_dim": 4}},
        train={"batch_size": 16, "validation_fraction": 0.25},
    )
    values["name"] = "tiny-listwise"
    run = tmp_path_factory.mktemp("runs") / "tiny_listwise"
    train_ranking(from_dict(RankingConfig, values), str(run), **QUIET)
    return run


@pytest.fixture(scope="session")
def two_stage_base(tiny_run, tiny_listwise_run, tmp_path_factory) -> pathlib.Path:
    """A model base path with the tiny retrieval model and the tiny listwise ranker exported."""
    from tfrec.export.ranking_export import export_ranking
    from tfrec.export.retrieval_export import export_retrieval
    from tfrec.training.experiment import Experiment
    from tfrec.training.ranking_experiment import RankingExperiment

    base = tmp_path_factory.mktemp("saved_models")
    exp = Experiment.from_run(str(tiny_run), **QUIET)
    export_retrieval(exp, exp.load_model(str(tiny_run)), str(base), max_k=40)
    ranking = RankingExperiment.from_run(str(tiny_listwise_run), **QUIET)
    export_ranking(ranking, ranking.load_model(str(tiny_listwise_run)), str(base))
    return base
