"""A run folder is an artifact: it loads without the raw data, and two writers never mix or lose work.

The raw data here is a user's own CSV files (interactions, items with text
and image files, users), made from the built-in synthetic generator, read by a
multimodal (cached tiny encoders) model with cold items held out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from tfrec.cli import main
from tfrec.data import synthetic
from tfrec.export.versions import existing_versions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_raw_files(folder) -> None:
    """interactions.csv, items.csv (images/ beside it, relative paths) and users.csv of a small world."""
    config = synthetic.SyntheticConfig(num_users=250, num_items=90, mean_interactions_per_user=12, seed=5,
                                       image_size=16)
    dataset = synthetic.generate(config, str(folder / "generated"))
    os.makedirs(folder / "images")
    items = dataset.items.copy()
    for row in items.itertuples():
        shutil.copy(row.image_path, folder / "images" / f"{row.item_id}.png")
    items["image_path"] = [f"images/{i}.png" for i in items.item_id]
    items.to_csv(folder / "items.csv", index=False)
    dataset.interactions.to_csv(folder / "interactions.csv", index=False)
    dataset.users.to_csv(folder / "users.csv", index=False)
    shutil.rmtree(folder / "generated")


CONFIG = {
    "name": "mine",
    "data": {"source": "tabular", "cold_item_fraction": 0.1,
             "tabular": {"interactions": "RAW/interactions.csv", "items": "RAW/items.csv", "users": "RAW/users.csv",
                         "mapping": {"rating": "rating", "title": "title", "text": "text", "image_path": "image_path",
                                     "item_categorical": ["category", "price_band"],
                                     "user_categorical": ["region"], "user_numeric": ["age"]}}},
    "model": {"embedding_dim": 16, "id_embedding_dim": 16, "feature_embedding_dim": 4, "hidden_dims": [16],
              "content": {"mode": "cached", "text": {"preset": "tiny", "sequence_length": 16},
                          "image": {"variant": "tiny", "image_size": 32}, "projection_dim": 8}},
    "train": {"batch_size": 256, "epochs": 2, "early_stopping_patience": 2, "learning_rate": 0.01,
              "histogram_freq": 0},
    "export": {"max_k": 20},
}


@pytest.fixture(scope="module")
def own_data_run(tmp_path_factory):
    """``(run, raw_folder, config_path)``: a run trained on CSV files with text and images."""
    root = tmp_path_factory.mktemp("own_data")
    raw = root / "raw"
    raw.mkdir()
    _write_raw_files(raw)
    text = yaml.safe_dump(CONFIG).replace("RAW", str(raw))
    config = root / "config.yaml"
    config.write_text(text)
    run = root / "run"
    assert main(["train", "--config", str(config), "--run", str(run)]) == 0
    return run, raw, config


def _top10(base, version, users):
    signature = tf.saved_model.load(str(base / "retrieval" / str(version))).signatures["serving_default"]
    out = signature(user_id=tf.constant(users))
    return out["item_ids"].numpy()[:, :10].astype(str), out["scores"].numpy()[:, :10]


def test_a_run_evaluates_and_exports_the_same_after_its_raw_data_is_gone(own_data_run, tmp_path, capsys):
    run, raw, _ = own_data_run
    work = tmp_path / "run"
    shutil.copytree(run, work)
    base = tmp_path / "saved_models"
    assert main(["evaluate", "--run", str(work)]) == 0
    before = json.loads((work / "evaluation.json").read_text())
    assert set(before) == {"warm", "cold_start"}
    assert main(["export", "--run", str(work), "--base", str(base)]) == 0
    users = ["u1", "u7", "u42", "u250", "nobody"]
    ids_before, scores_before = _top10(base, 1, users)

    moved = tmp_path / "raw-moved-away"
    shutil.move(str(raw), moved)
    try:
        assert main(["evaluate", "--run", str(work)]) == 0
        assert json.loads((work / "evaluation.json").read_text()) == before
        assert main(["export", "--run", str(work), "--base", str(base)]) == 0
        ids_after, scores_after = _top10(base, 2, users)
        np.testing.assert_array_equal(ids_after, ids_before)
        np.testing.assert_allclose(scores_after, scores_before, rtol=1e-5, atol=1e-6)
        # The candidate encoder needs nothing of the raw data either.
        assert (base / "candidate_encoder" / "2" / "saved_model.pb").exists()
        # Another machine: the folder copied elsewhere, the raw data nowhere.
        elsewhere = tmp_path / "elsewhere" / "copied-run"
        shutil.copytree(work, elsewhere)
        assert main(["evaluate", "--run", str(elsewhere)]) == 0
        assert json.loads((elsewhere / "evaluation.json").read_text()) == before
        assert main(["report", "--run", str(elsewhere)]) == 0
        assert (elsewhere / "report" / "report.md").exists()
    finally:
        shutil.move(str(moved), raw)


def test_changed_raw_data_does_not_reach_a_trained_run(own_data_run, tmp_path):
    run, raw, _ = own_data_run
    work = tmp_path / "run"
    shutil.copytree(run, work)
    assert main(["evaluate", "--run", str(work)]) == 0
    before = json.loads((work / "evaluation.json").read_text())
    saved = (raw / "interactions.csv").read_bytes()
    try:  # the warm-start workflow: new interactions land in the same files
        frame = pd.read_csv(raw / "interactions.csv")
        frame.sample(frac=0.5, random_state=0).to_csv(raw / "interactions.csv", index=False)
        assert main(["evaluate", "--run", str(work)]) == 0
        assert json.loads((work / "evaluation.json").read_text()) == before
    finally:
        (raw / "interactions.csv").write_bytes(saved)


def test_vocabularies_that_do_not_fit_the_weights_are_refused(own_data_run, tmp_path, capsys):
    run, _, _ = own_data_run
    work = tmp_path / "run"
    shutil.copytree(run, work)
    vocabularies = json.loads((work / "vocabularies.json").read_text())
    vocabularies["item_id"] = vocabularies["item_id"][:-3]
    (work / "vocabularies.json").write_text(json.dumps(vocabularies))
    assert main(["evaluate", "--run", str(work)]) == 2
    err = capsys.readouterr().err
    assert "item_id" in err and "the run's files do not belong together" in err
    assert not (work / "evaluation.json").exists()


def _tfrec(*args) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO}
    return subprocess.Popen([sys.executable, "-m", "tfrec.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def _both(first: subprocess.Popen, second: subprocess.Popen, timeout: float = 600):
    results = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out, err))
    return results


def test_two_exports_at_once_get_two_versions(own_data_run, tmp_path):
    run, _, _ = own_data_run
    base = tmp_path / "saved_models"
    results = _both(_tfrec("export", "--run", run, "--base", base), _tfrec("export", "--run", run, "--base", base))
    assert [code for code, _, _ in results] == [0, 0], [err[-1500:] for _, _, err in results]
    printed = sorted(line.split()[-1] for _, out, _ in results for line in out.splitlines()
                     if line.startswith("exported retrieval model to"))
    assert [os.path.basename(p) for p in printed] == ["1", "2"]
    assert existing_versions(str(base / "retrieval")) == [1, 2]
    assert existing_versions(str(base / "candidate_encoder")) == [1, 2]
    for model in ("retrieval", "candidate_encoder"):
        for version in (1, 2):
            folder = base / model / str(version)
            assert (folder / "saved_model.pb").exists() and (folder / "variables").is_dir()
        assert sorted(os.listdir(base / model)) == ["1", "2"]  # no claim or temporary folder left
    ids_1, _ = _top10(base, 1, ["u1"])
    ids_2, _ = _top10(base, 2, ["u1"])
    np.testing.assert_array_equal(ids_1, ids_2)


def _new_items(raw, path, ids):
    items = pd.read_csv(raw / "items.csv").head(len(ids)).copy()
    items["item_id"] = ids
    items["image_path"] = [str(raw / p) for p in items.image_path]
    items.to_csv(path, index=False)
    return path


def test_two_index_adds_at_once_lose_no_item(own_data_run, tmp_path):
    run, raw, _ = own_data_run
    work = tmp_path / "run"
    shutil.copytree(run, work)
    base = tmp_path / "saved_models"
    first = _new_items(raw, tmp_path / "first.csv", ["new-a1", "new-a2"])
    second = _new_items(raw, tmp_path / "second.csv", ["new-b1", "new-b2"])
    results = _both(_tfrec("index", "add", "--run", work, "--items", first, "--base", base, "--max-k", 100),
                    _tfrec("index", "add", "--run", work, "--items", second, "--base", base, "--max-k", 100))
    added = [ids for (code, _, _), ids in zip(results, (["new-a1", "new-a2"], ["new-b1", "new-b2"])) if code == 0]
    for code, _, err in results:
        assert code in (0, 2), err[-1500:]
        if code == 2:  # refused at once, naming who holds the run
            assert "is in use by pid" in err and "index add" in err and len(err.strip().splitlines()) == 1
    assert added, "at least one of the two additions goes through"
    versions = existing_versions(str(base / "retrieval"))
    assert len(versions) == len(added)
    newest = tf.saved_model.load(str(base / "retrieval" / str(versions[-1]))).signatures["serving_default"]
    size = len(pd.read_csv(raw / "items.csv")) + sum(len(ids) for ids in added)
    catalogue = set(newest(user_id=tf.constant(["nobody"]))["item_ids"].numpy()[0].astype(str))
    assert len(catalogue) >= size and {item for ids in added for item in ids} <= catalogue  # max_k 100
    # A later export keeps every added item.
    assert main(["export", "--run", str(work), "--base", str(base)]) == 0
    latest = existing_versions(str(base / "retrieval"))[-1]
    again = tf.saved_model.load(str(base / "retrieval" / str(latest))).signatures["serving_default"]
    items = set(again(user_id=tf.constant(["nobody"]))["item_ids"].numpy()[0].astype(str))
    assert items  # the export works; the full catalogue check is above (max_k 20 here)
    stored = pd.read_parquet(work / "added_items" / "items.parquet")
    assert sorted(stored.item_id) == sorted(item for ids in added for item in ids)


def test_two_trainings_into_one_run_do_not_mix(own_data_run, tmp_path):
    _, _, config = own_data_run
    run = tmp_path / "run"
    results = _both(_tfrec("train", "--config", config, "--run", run),
                    _tfrec("train", "--config", config, "--run", run))
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [err[-1500:] for _, _, err in results]
    refused = next(err for code, _, err in results if code == 2).strip()
    assert len(refused.splitlines()) == 1
    assert ("is in use by pid" in refused and "tfrec" in refused and "started" in refused) or \
        "holds a finished run" in refused, refused
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["status"] == "finished"
    assert main(["evaluate", "--run", str(run)]) == 0


def test_training_into_a_finished_run_needs_overwrite(own_data_run, tmp_path, capsys):
    run, _, config = own_data_run
    work = tmp_path / "run"
    shutil.copytree(run, work)
    weights = (work / "model" / "weights.index").read_bytes()
    assert main(["train", "--config", str(config), "--run", str(work)]) == 2
    assert "holds a finished run" in capsys.readouterr().err
    assert (work / "model" / "weights.index").read_bytes() == weights
    assert main(["train", "--config", str(config), "--run", str(work), "--overwrite",
                 "--set", "train.epochs=1"]) == 0
    out = capsys.readouterr().out
    assert "--overwrite: removing a finished run" in out
    assert json.loads((work / "train_summary.json").read_text())["epochs_run"] == 1


def test_a_lock_left_by_a_dead_process_is_taken_over(own_data_run, tmp_path, capsys):
    run, raw, _ = own_data_run
    work = tmp_path / "run"
    shutil.copytree(run, work)
    dead = {"pid": 2 ** 22 + 17, "host": os.uname().nodename, "command": "tfrec index add --run x",
            "started": "2026-01-01 00:00:00"}
    (work / ".lock").write_text(json.dumps(dead))
    items = _new_items(raw, tmp_path / "new.csv", ["new-z"])
    assert main(["index", "add", "--run", str(work), "--items", str(items), "--base", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert f"taking over the lock of pid {dead['pid']} (tfrec index add --run x), started 2026-01-01" in out
    assert (work / ".lock").read_text() == ""  # released


def test_a_reader_waits_for_no_one_but_a_writer_refuses_while_it_reads(own_data_run, tmp_path, capsys):
    from tfrec.run_folder import RunFolder

    run, _, config = own_data_run
    work = tmp_path / "run"
    shutil.copytree(run, work)
    with RunFolder(work).reading():
        assert main(["train", "--config", str(config), "--run", str(work), "--overwrite"]) == 2
        assert "is being read by another command" in capsys.readouterr().err
        assert main(["evaluate", "--run", str(work)]) == 0  # readers share
    assert json.loads((work / "run.json").read_text())["status"] == "finished"
