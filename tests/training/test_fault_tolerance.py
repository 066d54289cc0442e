"""A training process killed mid-run resumes from its backup; corrupt checkpoints are refused.

The run is SIGKILLed (no chance to clean up) once its backup holds two
epochs; rerunning the same command finishes it with the same number of
epochs and optimizer steps as an uninterrupted run, keeps the best-epoch
bookkeeping of the epochs before the kill, and keeps only the newest
``train.keep_checkpoints`` epoch checkpoints.
"""

import json
import shutil

import pytest

from tests.training.helpers import kill_when_backed_up

EPOCHS = 6
OVERRIDES = {"train.epochs": EPOCHS, "train.early_stopping_patience": EPOCHS, "train.keep_checkpoints": 2,
             "train.histogram_freq": 0, "train.projector": False}


def _train(config_path, run, **overrides):
    from tfrec.config import load_config
    from tfrec.training.retrieval_trainer import train_retrieval

    return train_retrieval(load_config(str(config_path), overrides={**OVERRIDES, **overrides}), str(run),
                           log=lambda *a: None)


@pytest.fixture(scope="module")
def killed_run(tiny_config_path, tmp_path_factory):
    """A run folder whose training process was SIGKILLed after its backup held two epochs."""
    run = tmp_path_factory.mktemp("killed") / "run"
    kill_when_backed_up({"config": str(tiny_config_path), "overrides": OVERRIDES, "run": str(run),
                         "out": str(run.parent / "out.json"), "slow_epoch_seconds": 1.0})
    assert not (run / "train_summary.json").exists()
    return run


@pytest.fixture
def killed_copy(killed_run, tmp_path):
    """A private copy of the killed run (each test resumes or damages its own)."""
    run = tmp_path / "run"
    shutil.copytree(killed_run, run)
    return run


def test_killed_run_resumes_where_it_stopped(killed_copy, tiny_config_path, tmp_path):
    from tfrec.training.run_state import resume_point

    killed_run = killed_copy
    done = resume_point(str(killed_run)).epochs_done
    assert 2 <= done < EPOCHS
    resumed = _train(tiny_config_path, killed_run)
    full = _train(tiny_config_path, tmp_path / "uninterrupted")

    assert resumed["resumed_at_epoch"] == done
    assert resumed["epochs_run"] == full["epochs_run"] == EPOCHS
    assert resumed["steps"] == full["steps"]  # the optimizer's step counter came back from the backup
    logs = json.loads((killed_run / "epoch_logs.json").read_text())
    assert [e["epoch"] for e in logs] == list(range(1, EPOCHS + 1))
    assert len(resumed["history"]["val_ndcg_at_10"]) == EPOCHS
    # Comparable quality: the resumed run's epochs see other shuffles, so not identical numbers.
    assert resumed["best_val_ndcg_at_10"] == pytest.approx(full["best_val_ndcg_at_10"], abs=0.05)
    assert resumed["best_val_ndcg_at_10"] == max(resumed["history"]["val_ndcg_at_10"])
    # Backup gone after a clean finish; the last two epoch checkpoints kept.
    assert not (killed_run / "backup" / "chief").exists()
    kept = sorted(p.name for p in (killed_run / "checkpoints").glob("*.index"))
    assert kept == [f"epoch-{EPOCHS - 1}.index", f"epoch-{EPOCHS}.index"]


def _corrupt(prefix: str) -> None:
    data = prefix + ".data-00000-of-00001"
    raw = bytearray(open(data, "rb").read())
    for i in range(len(raw) // 3, len(raw) // 3 + 64):
        raw[i] ^= 0xFF
    open(data, "wb").write(bytes(raw))


def test_corrupt_backup_is_reported_not_loaded(killed_copy, tiny_config_path):
    from tfrec.training.checkpoints import CorruptCheckpointError, latest_checkpoint

    run = killed_copy
    _corrupt(latest_checkpoint(str(run / "backup" / "chief")))
    with pytest.raises(CorruptCheckpointError, match="corrupt or incomplete and was not loaded.*delete .*backup"):
        _train(tiny_config_path, run)
    assert not (run / "train_summary.json").exists()


def test_verify_checkpoint_catches_flipped_and_truncated_files(tiny_run, tmp_path):
    from tfrec.training.checkpoints import CorruptCheckpointError, verify_checkpoint

    model = tmp_path / "model"
    shutil.copytree(tiny_run / "model", model)
    prefix = str(model / "weights")
    verify_checkpoint(prefix)  # intact
    _corrupt(prefix)
    with pytest.raises(CorruptCheckpointError, match="weights"):
        verify_checkpoint(prefix)
    shutil.copytree(tiny_run / "model", tmp_path / "short")
    data = tmp_path / "short" / "weights.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(CorruptCheckpointError):
        verify_checkpoint(str(tmp_path / "short" / "weights"))
    (tmp_path / "short" / "weights.index").write_bytes(b"not an index")
    with pytest.raises(CorruptCheckpointError):
        verify_checkpoint(str(tmp_path / "short" / "weights"))


def test_cli_reports_a_corrupt_backup_in_one_line(killed_copy, tiny_config_path, capsys):
    from tfrec.cli import main
    from tfrec.training.checkpoints import latest_checkpoint

    run = killed_copy
    _corrupt(latest_checkpoint(str(run / "backup" / "chief")))
    same_config = [arg for key, value in OVERRIDES.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    assert main(["train", "--config", str(tiny_config_path), "--run", str(run), *same_config]) == 2
    err = capsys.readouterr().err
    assert "is corrupt or incomplete and was not loaded" in err and len(err.strip().splitlines()) == 1


def test_resuming_with_another_config_is_refused_before_anything_is_written(killed_copy, tiny_config_path, capsys):
    from tfrec.cli import main

    run = killed_copy
    def files():
        return {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}

    before = files()
    changed = {**OVERRIDES, "train.epochs": EPOCHS + 1, "train.learning_rate": 0.02}
    args = [arg for key, value in changed.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    assert main(["train", "--config", str(tiny_config_path), "--run", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert "was interrupted while training with another config" in err
    assert f"train.epochs: {EPOCHS} then, {EPOCHS + 1} now" in err and "train.learning_rate: 0.01 then, 0.02 now" in err
    assert files() == before  # config.yaml, run.json, backup: all as they were
    # The run still resumes with the config it was started with.
    assert _train(tiny_config_path, run)["epochs_run"] == EPOCHS
