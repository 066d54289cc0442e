"""The ``tfrec`` command end to end: train → evaluate → export → recommend, and its errors."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from tfrec.cli import main


def _tfrec(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "tfrec.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


def test_evaluate_export_recommend(tiny_run, tmp_path, capsys):
    assert main(["evaluate", "--run", str(tiny_run)]) == 0
    table = capsys.readouterr().out
    assert "popularity" in table and "tiny" in table and "ndcg@10" in table
    results = json.loads((tiny_run / "evaluation.json").read_text())
    assert set(results["warm"]) == {"popularity", "tiny"}
    # The table printed is the one saved, and every test user of the run's stored split is evaluated.
    row = next(line.split() for line in table.splitlines() if line.startswith("tiny "))
    assert row[1:3] == [f"{results['warm']['tiny']['recall@10']:.4f}", f"{results['warm']['tiny']['ndcg@10']:.4f}"]
    test_users = pd.read_parquet(tiny_run / "data" / "split" / "test.parquet").user_id.nunique()
    assert results["warm"]["tiny"]["users"] == test_users == int(row[-1])

    base = tmp_path / "saved_models"
    assert main(["export", "--run", str(tiny_run), "--base", str(base)]) == 0
    assert (base / "retrieval" / "1" / "saved_model.pb").exists()

    done = _tfrec("recommend", "--base", str(base), "--user", "u1", "--user", "stranger", "--k", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    assert len(lines) == 6  # three per user, unknown user included
    assert "top 3 for user stranger" in done.stdout


def test_train_export_merges_models_config_with_the_serving_base(tiny_config_path, tmp_path, capsys):
    from tfrec.export.serving_config import read_models_config

    base = tmp_path / "saved_models"
    base.mkdir()
    (base / "models.config").write_text('model_config_list { config { name: "retrieval" base_path: "/old" '
                                        'model_platform: "tensorflow" version_labels { key: "stable" value: 1 } } }')
    assert main(["train", "--config", str(tiny_config_path), "--run", str(tmp_path / "run"), "--set",
                 "train.epochs=1", "--export", str(base), "--serving-base", "/models"]) == 0
    (entry,) = read_models_config(str(base / "models.config")).model_config_list.config
    assert entry.base_path == "/models/retrieval" and dict(entry.version_labels) == {"stable": 1}
    assert (base / "retrieval" / "1" / "saved_model.pb").exists()


def test_train_writes_a_complete_run_folder(tiny_run):
    for name in ("run.json", "config.yaml", "vocabularies.json", "train_summary.json", "model/weights.index",
                 "data/meta.json", "data/split/train.parquet", "data/dataset/items.parquet"):
        assert (tiny_run / name).exists(), name
    summary = json.loads((tiny_run / "train_summary.json").read_text())
    assert 1 <= summary["best_epoch"] <= summary["epochs_run"] <= 3
    events = list((tiny_run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, "TensorBoard event files are missing"


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--run", "no/such/run"], "no/such/run does not exist (train it first"),
    (["recommend", "--base", "no/such/base", "--user", "u1"], "no exported versions"),
])
def test_user_errors_are_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_config_key_names_the_key(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  epoch: 3\n")
    assert main(["train", "--config", str(config), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "epoch" in err and "train" in err and str(config) in err
    assert not (tmp_path / "run").exists()


def test_a_bad_image_weights_file_is_a_user_error(tiny_config_path, tmp_path, capsys):
    import yaml

    weights = tmp_path / "lite0.pth"
    weights.write_bytes(b"\x80\x02cposix\nsystem\nq\x00.")  # a pickle naming os.system: never run
    values = yaml.safe_load(tiny_config_path.read_text())
    values["model"]["content"] = {"mode": "cached", "text": None,
                                  "image": {"variant": "lite0", "image_size": 32, "weights": str(weights)}}
    config = tmp_path / "bad_weights.yaml"
    config.write_text(yaml.safe_dump(values))
    assert main(["train", "--config", str(config), "--run", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{weights}: " in err and "posix.system is not allowed" in err and "Traceback" not in err
