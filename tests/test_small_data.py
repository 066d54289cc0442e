"""Small and minimal data sets train, or say what they lack: through the CLI, as a new user would try them."""

from __future__ import annotations

import json

import pytest
import yaml

from tfrec.cli import main

MODEL = {"embedding_dim": 8, "id_embedding_dim": 8, "feature_embedding_dim": 4, "hidden_dims": [8]}


def _csv(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


def _config(tmp_path, tabular: dict, **data):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data": {"source": "tabular", "tabular": tabular, **data}, "model": MODEL,
                                    "train": {"batch_size": 32, "epochs": 2, "histogram_freq": 0}}))
    return path


def _train(capsys, config, run):
    code = main(["train", "--config", str(config), "--run", str(run)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_interactions_alone_train_evaluate_and_export(tmp_path, capsys):
    rows = [(f"u{u}", f"i{(u * 7 + t * 3) % 40}", 1000 + 100 * u + t) for u in range(60) for t in range(8)]
    events = _csv(tmp_path / "events.csv", "user_id,item_id,timestamp", rows)
    code, out, err = _train(capsys, _config(tmp_path, {"interactions": str(events)}), tmp_path / "run")
    assert code == 0, err
    assert "left out of the model, no values in the training data: item_title" in out
    assert main(["evaluate", "--run", str(tmp_path / "run")]) == 0
    assert main(["export", "--run", str(tmp_path / "run"), "--base", str(tmp_path / "base")]) == 0
    assert main(["recommend", "--base", str(tmp_path / "base"), "--user", "u1", "--k", "3"]) == 0
    assert "top 3 for user u1" in capsys.readouterr().out


def test_items_without_titles_train(tmp_path, capsys):
    rows = [(f"u{u}", f"i{(u + t * 5) % 30}", 1000 + 10 * t) for u in range(40) for t in range(6)]
    events = _csv(tmp_path / "events.csv", "user_id,item_id,timestamp", rows)
    items = _csv(tmp_path / "items.csv", "item_id,genre", [(f"i{i}", "a|b" if i % 2 else "c") for i in range(30)])
    config = _config(tmp_path, {"interactions": str(events), "items": str(items),
                                "mapping": {"item_categorical": ["genre"]}})
    code, out, err = _train(capsys, config, tmp_path / "run")
    assert code == 0, err
    vocabularies = json.loads((tmp_path / "run" / "vocabularies.json").read_text())
    assert vocabularies["item_title"] == [] and sorted(vocabularies["item_genre"]) == ["a", "b", "c"]


@pytest.mark.parametrize("name, rows", [
    ("one user", [("u1", f"i{i}", 1000 + i) for i in range(12)]),
    ("all timestamps equal", [(f"u{u}", f"i{(u * 3 + t) % 25}", 5000) for u in range(40) for t in range(6)]),
])
def test_tiny_shapes_of_data_train(tmp_path, capsys, name, rows):
    events = _csv(tmp_path / "events.csv", "user_id,item_id,timestamp", rows)
    code, _, err = _train(capsys, _config(tmp_path, {"interactions": str(events)}), tmp_path / "run")
    assert code == 0, err
    assert main(["evaluate", "--run", str(tmp_path / "run")]) == 0


@pytest.mark.parametrize("name, rows, data, message", [
    ("one interaction per user", [(f"u{u}", f"i{u % 25}", 1000 + u) for u in range(100)], {},
     "the temporal split left no validation interactions: leave-last-out holds out a user's last two "
     "interactions only when the user has at least 3, and the 100 user(s) here have at most 1"),
    ("one item", [(f"u{u}", "i1", 1000 + t) for u in range(20) for t in range(4)], {},
     "nothing to rank in the validation split"),
    ("random split without validation", [(f"u{u}", f"i{u % 9}", 1000 + u) for u in range(50)],
     {"split": "random"}, "the random split left no validation interactions (50 interactions in all); "
                          "set data.val_fraction"),
])
def test_data_too_small_says_what_it_lacks(tmp_path, capsys, name, rows, data, message):
    events = _csv(tmp_path / "events.csv", "user_id,item_id,timestamp", rows)
    code, _, err = _train(capsys, _config(tmp_path, {"interactions": str(events)}, **data), tmp_path / "run")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "run").exists()


def test_one_interaction_per_user_trains_on_a_random_split(tmp_path, capsys):
    rows = [(f"u{u}", f"i{u % 25}", 1000 + u) for u in range(100)]
    events = _csv(tmp_path / "events.csv", "user_id,item_id,timestamp", rows)
    config = _config(tmp_path, {"interactions": str(events)}, split="random", val_fraction=0.2)
    code, _, err = _train(capsys, config, tmp_path / "run")
    assert code == 0, err
