"""Mirrored (two logical CPUs) and multi-worker (two local processes) training match one device.

With cross-replica negatives a step on N replicas computes the same loss
and gradients as one device on the same global batch, so on the fixed
synthetic set the runs agree epoch by epoch up to float round-off; the
tolerances below are far tighter than the epoch-to-epoch noise of the
validation metrics, and the run without the gather shows they are not
trivially met.
"""

import json
import subprocess

import numpy as np
import pytest

from tests.training.helpers import COMPARE, free_port, run_runner, runner_command, subprocess_env, tf_config



@pytest.fixture(scope="module")
def single_device(tiny_config_path, tmp_path_factory):
    from tfrec.config import load_config
    from tfrec.training.retrieval_trainer import train_retrieval

    run = tmp_path_factory.mktemp("single") / "run"
    return train_retrieval(load_config(str(tiny_config_path), overrides=COMPARE), str(run), log=lambda *a: None)


def assert_same_curves(summary: dict, reference: dict):
    assert summary["epochs_run"] == reference["epochs_run"] == COMPARE["train.epochs"]
    assert summary["steps"] == reference["steps"]
    np.testing.assert_allclose(summary["history"]["loss"], reference["history"]["loss"], rtol=1e-3)
    np.testing.assert_allclose(summary["history"]["val_ndcg_at_10"], reference["history"]["val_ndcg_at_10"],
                               atol=0.01)
    np.testing.assert_allclose(summary["history"]["val_recall_at_10"], reference["history"]["val_recall_at_10"],
                               atol=0.02)


@pytest.fixture(scope="module")
def mirrored(tiny_config_path, tmp_path_factory):
    """One process with two logical CPUs: the loss comparison, then a Mirrored run (global batch 256)."""
    folder = tmp_path_factory.mktemp("mirrored")
    overrides = {**COMPARE, "train.strategy": "mirrored", "train.batch_size": 128}
    summary = run_runner({"config": str(tiny_config_path), "overrides": overrides, "run": str(folder / "run"),
                          "out": str(folder / "out.json"), "loss_check_out": str(folder / "loss.json"),
                          "logical_cpus": 2})
    return json.loads((folder / "loss.json").read_text()), summary


def test_replica_losses_add_up_to_the_single_device_loss(mirrored):
    result = mirrored[0]
    for batch in (64, 63):  # even, and replicas of 32 and 31 rows
        gathered = result[f"batch{batch}_gather1"]
        # Each replica's loss is the single-device loss of its queries against the whole global batch.
        np.testing.assert_allclose(gathered["replica_losses"], gathered["single_parts"], rtol=1e-4)
        assert sum(gathered["replica_losses"]) == pytest.approx(gathered["single_loss"], rel=1e-4)
        # Keras sums replica gradients: the sum is the single-device gradient.
        assert gathered["max_grad_error"] <= 1e-5 * gathered["max_grad"] + 1e-3
        local = result[f"batch{batch}_gather0"]  # without the gather each replica sees half the negatives
        assert sum(local["replica_losses"]) < 0.95 * local["single_loss"]
        assert local["max_grad_error"] > 0.01 * local["max_grad"]


def test_mirrored_run_matches_single_device(mirrored, single_device):
    summary = mirrored[1]
    assert summary["replicas"] == 2 and summary["global_batch"] == 256
    assert_same_curves(summary, single_device)


def test_multi_worker_run_matches_single_device(tiny_config_path, tmp_path, single_device):
    overrides = {**COMPARE, "train.strategy": "multi_worker", "train.batch_size": 128}
    ports = [free_port(), free_port()]
    procs = []
    for index in range(2):
        spec = {"config": str(tiny_config_path), "overrides": overrides, "run": str(tmp_path / "run"),
                "out": str(tmp_path / f"out{index}.json")}
        procs.append(subprocess.Popen(runner_command(spec), env=subprocess_env(TF_CONFIG=tf_config(ports, index)),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    for p, output in zip(procs, outputs):
        assert p.returncode == 0, output[-5000:]
    summaries = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(2)]
    for summary in summaries:
        assert summary["replicas"] == 2 and summary["global_batch"] == 256
        assert_same_curves(summary, single_device)
    # Only the chief wrote the run folder.
    run = tmp_path / "run"
    assert json.loads((run / "train_summary.json").read_text())["steps"] == summaries[0]["steps"]
    assert (run / "model" / "weights.index").exists()
    assert not [p.name for p in run.rglob("workertemp_*")]


def test_multi_worker_run_streams_disjoint_shards(tiny_config_path, tmp_path):
    """Two local workers on a sharded data set: each reads its own training files, together all of them,
    and the run trains like a one-worker run of the same global batch (other shuffles: loose tolerance)."""
    import yaml

    from tfrec.config import load_config
    from tfrec.data.shard_writer import write_sharded

    shards = tmp_path / "shards"
    manifest = write_sharded(load_config(str(tiny_config_path)).data, str(shards), shard_size=700, log=lambda *_: None)
    assert len(manifest["shards"]["train"]) >= 4
    values = yaml.safe_load(tiny_config_path.read_text())
    values["data"] = {"source": "sharded", "path": str(shards), "eval_users": 200}
    config = tmp_path / "sharded.yaml"
    config.write_text(yaml.safe_dump(values))
    one = run_runner({"config": str(config), "overrides": COMPARE, "run": str(tmp_path / "one"),
                      "out": str(tmp_path / "one.json")})
    overrides = {**COMPARE, "train.strategy": "multi_worker", "train.batch_size": 128}
    ports = [free_port(), free_port()]
    procs = []
    for index in range(2):
        spec = {"config": str(config), "overrides": overrides, "run": str(tmp_path / "two"),
                "out": str(tmp_path / f"two{index}.json")}
        procs.append(subprocess.Popen(runner_command(spec), env=subprocess_env(TF_CONFIG=tf_config(ports, index)),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    for p, output in zip(procs, outputs):
        assert p.returncode == 0, output[-5000:]
    workers = [json.loads((tmp_path / f"two{i}.json").read_text()) for i in range(2)]
    read = [set(w["training_shards"]) for w in workers]
    assert read[0] and read[1] and not read[0] & read[1]
    assert read[0] | read[1] == {p.split("/")[-1] for p in manifest["shards"]["train"]} == set(one["training_shards"])
    for summary in workers:
        assert summary["global_batch"] == one["global_batch"] == 256 and summary["steps"] == one["steps"]
        assert summary["best_val_ndcg_at_10"] == pytest.approx(one["best_val_ndcg_at_10"], abs=0.05)
