"""A full disk or a read-only folder: one line and exit status 2, nothing half-written, nothing published.

Each case runs the installed command in a private user and mount namespace
(``unshare -rm``) with a small or read-only tmpfs mounted where it writes, so
the file system itself refuses, as a real full disk would. Skipped, with the
reason printed, where namespaces or tmpfs mounts are not allowed.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def namespaces():
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed: no private mounts to fill or make read-only")
    probe = subprocess.run([unshare, "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"private tmpfs mounts are not allowed here ({probe.stderr.strip() or probe.returncode})")
    return unshare


def run_on_tmpfs(unshare, mount_point, options, *argv, prepare=""):
    """Runs ``tfrec ARGV`` with a tmpfs mounted at ``mount_point`` (``options``); returns it and what is left."""
    os.makedirs(mount_point, exist_ok=True)
    command = " ".join(shlex.quote(str(a)) for a in [sys.executable, "-m", "tfrec.cli", *argv])
    listing = f"{sys.executable} -c 'import json, os, sys; print(json.dumps(sorted(os.path.relpath(os.path.join(d, f), sys.argv[1]) for d, _, fs in os.walk(sys.argv[1]) for f in fs)))' {shlex.quote(str(mount_point))}"
    script = (f"mount -t tmpfs -o {options} tmpfs {shlex.quote(str(mount_point))} && {prepare} "
              f"{command} 2>err.txt; echo $? > code.txt; {listing} > left.json; "
              f"cat {shlex.quote(str(mount_point))}/run/run.json > manifest.json 2>/dev/null; true")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO}
    work = os.path.dirname(mount_point)
    done = subprocess.run([unshare, "-rm", "sh", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    read = lambda name: open(os.path.join(work, name)).read()  # noqa: E731
    manifest = read("manifest.json")
    return int(read("code.txt")), read("err.txt"), json.loads(read("left.json")), json.loads(manifest or "null")


def last_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_a_full_disk_while_training_is_one_line_and_leaves_no_partial_file(namespaces, tiny_config_path, tmp_path):
    mount = tmp_path / "small-disk"
    code, err, left, manifest = run_on_tmpfs(namespaces, mount, "size=300k", "train", "--config", tiny_config_path,
                                             "--run", mount / "run")
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    assert last_line(err).startswith("tfrec train: error: ") and "No space left on device" in last_line(err)
    assert not [name for name in left if ".tmp-" in name or ".partial" in name], left
    assert manifest is None or manifest["status"] == "training"  # never a run that looks finished


def test_a_read_only_run_folder_is_one_line(namespaces, tiny_config_path, tmp_path):
    mount = tmp_path / "read-only"
    code, err, left, _ = run_on_tmpfs(namespaces, mount, "ro", "train", "--config", tiny_config_path,
                                      "--run", mount / "run")
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    assert last_line(err).startswith("tfrec train: error: ") and "Read-only file system" in last_line(err)
    assert left == []


def test_a_full_model_base_publishes_no_version(namespaces, tiny_run, tmp_path):
    mount = tmp_path / "small-base"
    code, err, left, _ = run_on_tmpfs(namespaces, mount, "size=100k", "export", "--run", tiny_run,
                                      "--base", mount / "saved_models")
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    assert last_line(err).startswith("tfrec export: error: ") and "No space left on device" in last_line(err)
    assert not [name for name in left if name.split(os.sep)[1:2] and name.split(os.sep)[1].isdigit()], left
    assert not [name for name in left if ".partial" in name or ".tmp-" in name], left
