"""RankingConfig: YAML round trip and errors that name what was wrong."""

import dataclasses

import pytest

from tfrec.config import ConfigError, RankingConfig, from_dict, load_config, save_config


def test_round_trip_through_yaml(tmp_path):
    config = from_dict(RankingConfig, {
        "name": "r", "data": {"source": "synthetic", "split": "random", "test_fraction": 0.2},
        "model": {"tasks": {"rating": 1.0, "engagement": 0.3}, "projection_dim": 8, "deep_dims": [32, 16]},
        "train": {"epochs": 5, "validation_fraction": 0.05, "monitor": "val_auc"},
    })
    save_config(config, str(tmp_path / "config.yaml"))
    again = load_config(str(tmp_path / "config.yaml"), RankingConfig)
    assert again == config
    assert dataclasses.asdict(again)["model"]["tasks"] == {"rating": 1.0, "engagement": 0.3}


def test_shipped_configs_load():
    for name in ("ranking_movielens", "ranking_synthetic", "ranking_synthetic_two_stage",
                 "ranking_movielens_two_stage"):
        load_config(f"pipelines/configs/{name}.yaml", RankingConfig)


@pytest.mark.parametrize("values, message", [
    ({"model": {"tasks": {"clicks": 1.0}}}, "unknown task"),
    ({"model": {"tasks": {"listwise": 1.0}}}, "needs candidate lists"),
    ({"model": {"listwise_loss": "hinge"}}, "listwise_loss"),
    ({"model": {"content": {"mode": "finetune"}}}, "cached"),
    ({"model": {"use_retrieval_score": True}, "candidates": {"retrieval_run": "r"}}, "include_positive"),
    ({"train": {"epoch": 3}}, "unknown key"),
    ({"model": {"history": {"length": 5}}}, "history needs candidate lists"),
    ({"candidates": {"retrieval_run": "r", "earlier_items": 3}, "data": {"split": "random"}}, "split: temporal"),
    ({"candidates": {"retrieval_run": "r", "earlier_items": -1}}, "earlier_items"),
    ({"candidates": {"retrieval_run": "r", "include_positive": False, "earlier_items": 2},
      "model": {"item_item": {"neighbours": 10}}, "data": {"split": "temporal"}}, "item_item needs model.history"),
    ({"candidates": {"retrieval_run": "r", "include_positive": False},
      "model": {"item_item": {"neighbours": 10}, "history": {"length": 5}}}, "item_item needs"),
])
def test_invalid_configs_are_named(values, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(RankingConfig, values)
