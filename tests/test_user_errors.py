"""Every mistake a user can make is one line on stderr and exit status 2, and writes nothing.

Each case goes through the CLI's entry point (``tfrec.cli.main``, in-process,
so the suite stays fast); a few also through the installed ``tfrec`` command.
A case passes only when the message names what was wrong and the run folder
it would have written does not exist afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tfrec.cli import main

TINY = {
    "name": "tiny",
    "data": {"source": "synthetic", "synthetic": {"num_users": 300, "num_items": 120,
                                                  "mean_interactions_per_user": 15, "seed": 3, "image_size": 16}},
    "model": {"embedding_dim": 16, "id_embedding_dim": 16, "feature_embedding_dim": 4, "hidden_dims": [32]},
    "train": {"batch_size": 256, "epochs": 2, "early_stopping_patience": 2, "learning_rate": 0.01},
}


@pytest.fixture
def config_file(tmp_path, tiny_config_path):
    """A small valid retrieval config (its synthetic data cached beside the session's tiny config)."""
    values = yaml.safe_load(yaml.safe_dump(TINY))
    values["data"]["cache_dir"] = str(tiny_config_path.parent / "data_cache")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def run_cli(capsys, *argv) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code, err, message):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert len(lines) == 1 and message in lines[0], f"expected one line with {message!r}, got: {err!r}"


TRAIN_SETTINGS = [
    ("train.batch_size=0", "train.batch_size must be >= 1; got 0"),
    ("train.batch_size=-5", "train.batch_size must be >= 1; got -5"),
    ("train.epochs=0", "train.epochs must be >= 1; got 0"),
    ("train.epochs=-1", "train.epochs must be >= 1; got -1"),
    ("train.epochs=1.5", "train.epochs must be an integer, got 1.5 (a number)"),
    ("train.epochs=three", "train.epochs must be an integer, got 'three' (a string)"),
    ("train.learning_rate=.nan", "train.learning_rate must be a finite number, got nan"),
    ("train.learning_rate=-0.1", "train.learning_rate must be > 0; got -0.1"),
    ("model.temperature=0", "model.temperature must be > 0; got 0.0"),
    ("model.hidden_dims=5", "model.hidden_dims must be a list of integers, got 5 (an integer)"),
    ("model.embedding_dim=0", "model.embedding_dim must be >= 1; got 0"),
    ("eval.ks=[0]", "eval.ks[0] must be >= 1; got 0"),
    ("eval.ks=[]", "eval.ks must not be empty"),
    ("train.strategy=tpu", "train.strategy must be one of 'auto', 'default', 'one_device', 'mirrored'"),
    ("train.optimizer=adamw", "train.optimizer must be one of 'adam', 'adagrad', 'sgd'; got 'adamw'"),
    ("data.split=weekly", "data.split must be one of 'temporal', 'temporal_leave_last_out', 'random'"),
    ("data.cold_item_fraction=1.0", "data.cold_item_fraction must be >= 0, < 1; got 1.0"),
    ("model.history.length=-1", "model.history.length must be >= 0; got -1"),
    ("model.history={length: 4, dropout: 1.5}", "model.history.dropout must be >= 0, < 1; got 1.5"),
    ("train.epoch=3", "unknown key 'train.epoch' (did you mean 'train.epochs'?)"),
    ("model.content={mode: cached, text: {presett: tiny}}",
     "unknown key 'model.content.text.presett' (did you mean 'model.content.text.preset'?)"),
    ("model.content={mode: cached, text: {preset: tiny, sequence_length: 1000}}",
     "model.content.text.sequence_length must be >= 2, <= 512; got 1000"),
    ("model.content={mode: cached, text: {}}", "model.content.text: {} is ambiguous"),
    ("data.test_fraction=0.3", "data.test_fraction is set but not read: data.split is 'temporal'"),
    ("model.history.encoder=gru", "model.history.encoder is set but not read: model.history.length is 0"),
    ("data.path=/data", "data.path is set but not read: data.source is 'synthetic'"),
    ("train.ps_min_shard_bytes=100", "train.ps_min_shard_bytes is set but not read: train.strategy is 'auto'"),
    ("train.epochs.x=1", "--set train.epochs.x: train.epochs is 2, not a section with keys"),
    ("name=[1, 2]", "name must be a string, got [1, 2] (a list)"),
]


@pytest.mark.parametrize("setting, message", TRAIN_SETTINGS, ids=[s for s, _ in TRAIN_SETTINGS])
def test_a_bad_setting_is_one_line_and_nothing_is_written(config_file, tmp_path, capsys, setting, message):
    run = tmp_path / "run"
    code, err = run_cli(capsys, "train", "--config", str(config_file), "--run", str(run), "--set", setting)
    assert_one_line_error(code, err, message)
    assert not run.exists()


def test_the_same_mistakes_written_in_the_file_name_the_file(tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text("train:\n  epochs: three\n")
    code, err = run_cli(capsys, "train", "--config", str(config), "--run", str(tmp_path / "run"))
    assert_one_line_error(code, err, f"{config}: train.epochs must be an integer, got 'three' (a string)")


def test_a_k_beyond_the_catalogue_is_refused_before_training(config_file, tmp_path, capsys):
    run = tmp_path / "run"
    code, err = run_cli(capsys, "train", "--config", str(config_file), "--run", str(run),
                        "--set", "train.monitor_k=100000")
    assert_one_line_error(code, err, "train.monitor_k 100000 exceeds the catalogue of 120 item(s)")
    assert not run.exists()
    code, err = run_cli(capsys, "train", "--config", str(config_file), "--run", str(run),
                        "--set", "eval.ks=[10, 500]")
    assert_one_line_error(code, err, "eval.ks [500] exceed the catalogue of 120 item(s)")
    assert not run.exists()


@pytest.mark.parametrize("tabular, message", [
    ({"interaction": "x.csv"}, "unknown key 'data.tabular.interaction' (did you mean 'data.tabular.interactions'?)"),
    ({"interactions": "x.csv", "mapping": {"user": "uid"}},
     "unknown key 'data.tabular.mapping.user' (did you mean 'data.tabular.mapping.user_id'?)"),
    ({"interactions": "x.csv", "mapping": {"title": "name"}},
     "data.tabular.mapping names item columns ['name'] but no items file is given"),
    ({}, "data.tabular.interactions must name the interactions file when source is 'tabular'"),
    ({"interactions": "x.csv", "mapping": {"item_categorical": "genre"}},
     "data.tabular.mapping.item_categorical must be a list of strings, got 'genre' (a string)"),
])
def test_a_typo_in_the_tabular_section_names_the_key(tmp_path, capsys, tabular, message):
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "tabular", "tabular": tabular}}))
    code, err = run_cli(capsys, "train", "--config", str(config), "--run", str(tmp_path / "run"))
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "run").exists()


def test_a_config_path_that_is_a_folder_or_missing(tmp_path, capsys):
    code, err = run_cli(capsys, "train", "--config", str(tmp_path), "--run", str(tmp_path / "run"))
    assert_one_line_error(code, err, f"{tmp_path} is a folder, not a config file")
    code, err = run_cli(capsys, "train", "--config", str(tmp_path / "nope.yaml"), "--run", str(tmp_path / "run"))
    assert_one_line_error(code, err, f"config file {tmp_path / 'nope.yaml'} does not exist")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    code, err = run_cli(capsys, "train", "--config", str(tmp_path / "list.yaml"), "--run", str(tmp_path / "run"))
    assert_one_line_error(code, err, "a config file holds a mapping of sections")
    assert not (tmp_path / "run").exists()


RANKING_SETTINGS = [
    ("train.projector=false", "unknown key 'train.projector'"),
    ("train.warm_start=runs/x", "unknown key 'train.warm_start'"),
    ("train.mixed_precision=true", "unknown key 'train.mixed_precision'"),
    ("train.monitor_k=5", "unknown key 'train.monitor_k'"),
    ("train.strategy=parameter_server", "train.strategy must be one of 'auto', 'default', 'one_device', "
                                        "'mirrored', 'multi_worker'"),
    ("train.monitor=val_ndcg", "train.monitor 'val_ndcg' is not a metric this ranker logs"),
    ("model.listwise_loss=listmle", "model.listwise_loss is set but not read: model.tasks has no listwise task"),
    ("train.validation_fraction=0.2", "train.validation_fraction is set but not read"),
    ("model.tasks={clicks: 1.0}", "model.tasks has unknown task(s) ['clicks']"),
]


@pytest.mark.parametrize("setting, message", RANKING_SETTINGS, ids=[s for s, _ in RANKING_SETTINGS])
def test_a_ranking_config_refuses_what_the_ranker_does_not_read(tmp_path, capsys, setting, message):
    run = tmp_path / "run"
    code, err = run_cli(capsys, "train-ranking", "--config", "pipelines/configs/ranking_synthetic.yaml",
                        "--run", str(run), "--set", setting)
    assert_one_line_error(code, err, message)
    assert not run.exists()


@pytest.mark.parametrize("argv, message", [
    (["recommend", "--user", "u1", "--k", "0"], "argument --k: must be at least 1, got 0"),
    (["recommend", "--user", "u1", "--k", "ten"], "argument --k: expected a whole number, got 'ten'"),
    (["recommend", "--user", "u1", "--two-stage", "--candidates", "-3"], "argument --candidates: must be at least 1"),
    (["recommend", "--user", "u1", "--server", "x:1", "--timeout", "0"], "argument --timeout: must be above 0, got 0"),
    (["export", "--run", "r", "--version", "0"], "argument --version: must be at least 1, got 0"),
    (["tensorboard", "--run", "r", "--port", "70000"], "argument --port: must be 0 to 65535"),
    (["serve", "--port", "-1"], "argument --port: must be 0 to 65535"),
])
def test_bad_command_line_values_are_refused_by_the_parser(capsys, argv, message):
    code, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, message)


@pytest.mark.parametrize("command", ["evaluate", "export", "report", "evaluate-ranking", "export-ranking"])
def test_commands_on_a_folder_that_is_no_run(tmp_path, capsys, command):
    code, err = run_cli(capsys, command, "--run", str(tmp_path / "none"))
    assert_one_line_error(code, err, f"{tmp_path / 'none'} does not exist (train it first")
    (tmp_path / "empty").mkdir()
    code, err = run_cli(capsys, command, "--run", str(tmp_path / "empty"))
    assert_one_line_error(code, err, "is not a trained run (no run.json)")
    assert os.listdir(tmp_path / "empty") == []


def test_training_into_a_folder_of_other_files_is_refused(config_file, tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("do not lose me")
    code, err = run_cli(capsys, "train", "--config", str(config_file), "--run", str(folder), "--overwrite")
    assert_one_line_error(code, err, "is not empty and does not hold a tfrec run")
    assert sorted(os.listdir(folder)) == ["thesis.tex"]
    assert (folder / "thesis.tex").read_text() == "do not lose me"


def test_the_installed_command_prints_one_line_too(config_file, tmp_path):
    tfrec = shutil.which("tfrec") or os.path.join(os.path.dirname(sys.executable), "tfrec")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([tfrec, "train", "--config", str(config_file), "--run", str(tmp_path / "run"),
                           "--set", "train.batch_size=0"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip() == f"tfrec train: error: {config_file}: train.batch_size must be >= 1; got 0"
    assert not (tmp_path / "run").exists()
