"""Shared by the training tests: free ports, bounded subprocesses, the tiny config's overrides."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys

RUNNER = pathlib.Path(__file__).with_name("runner.py")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# Enough epochs to compare curves, patience high enough that every run does all of them.
COMPARE = {"train.epochs": 3, "train.early_stopping_patience": 10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runner_command(spec: dict) -> list[str]:
    return [sys.executable, str(RUNNER), json.dumps(spec)]


def subprocess_env(**extra) -> dict:
    """This environment without any inherited ``TF_CONFIG``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


def run_runner(spec: dict, timeout: float = 240, **env) -> dict:
    """Runs ``runner.py`` with ``spec`` in a fresh Python; returns the JSON it wrote to ``spec['out']``."""
    proc = subprocess.run(runner_command(spec), env=subprocess_env(**env), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"runner failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(pathlib.Path(spec["out"]).read_text())


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def backed_up_epochs(run) -> int:
    """Epochs the backup of ``run`` holds (0 while none, or while one is being written)."""
    from tfrec.training.run_state import resume_point

    try:
        return resume_point(run).epochs_done
    except Exception:  # noqa: BLE001  (a backup being written right now)
        return 0


def kill_when_backed_up(spec: dict, epochs: int = 2, timeout_s: float = 180) -> None:
    """Starts ``runner.py`` with ``spec`` and SIGKILLs it once its backup holds ``epochs`` epochs."""
    import signal
    import time

    proc = subprocess.Popen(runner_command(spec), env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + timeout_s
        while backed_up_epochs(spec["run"]) < epochs:
            assert proc.poll() is None, f"training ended before it could be killed:\n{proc.stdout.read()[-3000:]}"
            assert time.time() < deadline, f"no backup of {epochs} epochs within {timeout_s} s"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
