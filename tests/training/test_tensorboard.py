"""TensorBoard output of a run: scalars, learning rate, histograms, the item projector, a profile,
and ``tfrec tensorboard`` serving it on localhost."""

import json
import re
import subprocess
import sys
import time
import urllib.request

from tests.training.helpers import REPO_ROOT, subprocess_env


def event_tags(folder) -> dict[str, set]:
    """Tag → plugin names, read back from every event file in ``folder``."""
    import tensorflow as tf

    tags = {}
    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.setdefault(value.tag, set()).add(value.metadata.plugin_data.plugin_name or "scalars")
    return tags


def test_event_files_hold_loss_metrics_learning_rate_and_histograms(tiny_run):
    train = event_tags(tiny_run / "tensorboard" / "train")
    assert {"epoch_loss", "epoch_learning_rate"} <= set(train)
    histograms = [tag for tag, plugins in train.items() if "histograms" in plugins]
    assert any("item_id" in tag and "embeddings" in tag for tag in histograms), histograms
    assert any("query_tower" in tag for tag in histograms), histograms
    validation = event_tags(tiny_run / "tensorboard" / "validation")
    assert {"epoch_ndcg_at_10", "epoch_recall_at_10"} <= set(validation)


def test_projector_has_every_item_with_its_title(tiny_run):
    import tensorflow as tf
    import yaml

    from tfrec.training.experiment import Experiment

    folder = tiny_run / "tensorboard" / "projector"
    config = (folder / "projector_config.pbtxt").read_text()
    assert 'metadata_path: "metadata.tsv"' in config and "item_embeddings" in config
    rows = (folder / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    exp = Experiment.from_run(str(tiny_run), log=lambda *a: None)
    items = exp.dataset.items
    assert rows[0] == "item_id\ttitle"
    assert [r.split("\t")[0] for r in rows[1:]] == list(items.item_id)
    assert rows[1].split("\t")[1] == " ".join(str(items.title.iloc[0]).split())
    reader = tf.train.load_checkpoint(str(folder / "item_embeddings.ckpt"))
    assert reader.get_variable_to_shape_map()["item_embeddings/.ATTRIBUTES/VARIABLE_VALUE"] == [
        len(items), yaml.safe_load((tiny_run / "config.yaml").read_text())["model"]["embedding_dim"]]


def test_profile_batch_writes_a_trace(tiny_config_path, tmp_path):
    from tfrec.config import load_config
    from tfrec.training.retrieval_trainer import train_retrieval

    run = tmp_path / "run"
    train_retrieval(load_config(str(tiny_config_path), overrides={"train.epochs": 1, "train.profile_batch": 2,
                                                                  "train.projector": False}),
                    str(run), log=lambda *a: None)
    traces = list((run / "tensorboard").rglob("*.xplane.pb"))
    assert traces, sorted(str(p.relative_to(run)) for p in run.rglob("*"))


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_tfrec_tensorboard_serves_the_run_on_localhost(tiny_run):
    proc = subprocess.Popen([sys.executable, "-m", "tfrec.cli", "tensorboard", "--run", str(tiny_run), "--port", "0"],
                            cwd=REPO_ROOT, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the URL is printed (or the process dies)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"no URL in {line!r}"
        url = match.group(0)
        deadline = time.time() + 60
        while True:
            try:
                runs = _get(url + "data/runs")
                if {"train", "validation", "projector"} <= set(runs):
                    break
            except OSError:
                pass
            assert time.time() < deadline, "TensorBoard did not list the runs within 60 s"
            time.sleep(0.5)
        assert "projector" in _get(url + "data/plugin/projector/runs")
        tags = _get(url + "data/plugin/scalars/tags")
        assert "epoch_learning_rate" in tags["train"] and "epoch_ndcg_at_10" in tags["validation"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def test_tfrec_tensorboard_needs_a_trained_run(tmp_path, capsys):
    from tfrec.cli import main

    assert main(["tensorboard", "--run", str(tmp_path)]) == 2
    assert "has no tensorboard/ folder" in capsys.readouterr().err
