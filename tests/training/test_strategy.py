"""Strategy choice, the parameter-server cluster, and the GPU options on CPU."""

import json
import subprocess

import numpy as np
import pytest

from tests.training.helpers import free_port, runner_command, subprocess_env


def test_unknown_strategy_is_a_clear_error():
    from tfrec.training.strategy import make_strategy

    with pytest.raises(ValueError, match="train.strategy must be one of"):
        make_strategy("tpu_pod")


def test_auto_on_a_cpu_machine_is_the_default_strategy():
    import tensorflow as tf

    from tfrec.training.strategy import is_chief, make_strategy

    strategy = make_strategy("auto")
    assert strategy is tf.distribute.get_strategy() and strategy.num_replicas_in_sync == 1
    assert is_chief(strategy)


def test_parameter_server_strategy_needs_a_cluster(monkeypatch):
    from tfrec.training.strategy import make_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs a TF_CONFIG cluster with 'ps' and 'worker'"):
        make_strategy("parameter_server")


def test_cluster_task_reads_tf_config(monkeypatch):
    from tfrec.training.strategy import cluster_task

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 1}}))
    assert cluster_task() == ("worker", 1)
    monkeypatch.delenv("TF_CONFIG")
    assert cluster_task() == (None, 0)


def test_parameter_server_cluster_trains_with_sharded_tables(tiny_config_path, tmp_path):
    """Chief + one worker + two parameter servers on localhost; tables above 1 KiB are sharded."""
    cluster = {"chief": [f"127.0.0.1:{free_port()}"], "worker": [f"127.0.0.1:{free_port()}"],
               "ps": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    overrides = {"train.strategy": "parameter_server", "train.epochs": 2, "train.ps_min_shard_bytes": 1024,
                 "train.backup": False}
    spec = {"config": str(tiny_config_path), "overrides": overrides, "run": str(tmp_path / "run"),
            "out": str(tmp_path / "out.json")}

    def start(task_type, index):
        env = subprocess_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}}))
        return subprocess.Popen(runner_command(spec), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)

    servers = [start("ps", 0), start("ps", 1), start("worker", 0)]
    try:
        chief = start("chief", 0)
        try:
            output = chief.communicate(timeout=240)[0]
        finally:
            if chief.poll() is None:
                chief.kill()
                chief.wait(timeout=30)
    finally:
        for server in servers:  # they serve until stopped
            server.kill()
            server.wait(timeout=30)
    assert chief.returncode == 0, output[-5000:]
    assert "ParameterServerStrategy" in output
    sharded = [line for line in output.splitlines() if line.startswith("parameter servers hold")]
    assert sharded and "largest in 2 parts" in sharded[0], sharded
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["epochs_run"] == 2 and summary["best_val_ndcg_at_10"] > 0.05
    assert (tmp_path / "run" / "model" / "weights.index").exists()


def test_mixed_precision_and_xla_run_on_cpu(tiny_config_path, tmp_path):
    import tensorflow as tf
    import tf_keras as keras

    from tfrec.config import load_config
    from tfrec.training.experiment import Experiment
    from tfrec.training.retrieval_trainer import train_retrieval

    run = tmp_path / "run"
    summary = train_retrieval(load_config(str(tiny_config_path), overrides={
        "train.mixed_precision": True, "train.jit_compile": True, "train.epochs": 2, "train.projector": False}),
        str(run), log=lambda *a: None)
    assert np.isfinite(summary["history"]["loss"]).all() and summary["best_val_ndcg_at_10"] > 0.05
    # The settings were for that run only.
    assert keras.mixed_precision.global_policy().name == "float32"
    assert not tf.config.optimizer.get_jit()
    # Variables stay float32, so the weights load into a float32 model for export.
    model = Experiment.from_run(str(run), log=lambda *a: None).load_model(str(run))
    assert {v.dtype for v in model.trainable_variables} == {tf.float32}
