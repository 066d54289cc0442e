"""SIGTERM or Ctrl-C during ``tfrec train``: one line saying how to resume, a non-zero exit, no traceback, and
the same command resumes the run."""

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.training.helpers import backed_up_epochs, subprocess_env

EPOCHS = 12


def _command(config, run):
    return [sys.executable, "-m", "tfrec.cli", "train", "--config", str(config), "--run", str(run),
            "--set", f"train.epochs={EPOCHS}", "--set", f"train.early_stopping_patience={EPOCHS}",
            "--set", "train.histogram_freq=0", "--set", "train.projector=false"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_training_says_how_to_resume_and_resumes(tiny_config_path, tmp_path, signum):
    run = tmp_path / "run"
    process = subprocess.Popen(_command(tiny_config_path, run), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=subprocess_env())
    deadline = time.monotonic() + 240
    while backed_up_epochs(str(run)) < 1:
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no epoch was backed up in time"
        time.sleep(0.2)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last.startswith(f"tfrec train: interrupted ({name});") and "rerun the same command to resume" in last
    assert json.loads((run / "run.json").read_text())["status"] != "finished"
    assert not (run / "train_summary.json").exists()

    again = subprocess.run(_command(tiny_config_path, run), capture_output=True, text=True, env=subprocess_env(),
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stdout
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS and summary["resumed_at_epoch"] >= 1
