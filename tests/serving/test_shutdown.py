"""``tfrec serve`` in its own process: serves, then exits cleanly on SIGTERM."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

from tfrec.serving.client import ServingClient


def test_sigterm_stops_the_server_cleanly_within_seconds(served_base, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    stderr = open(tmp_path / "serve.stderr", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tfrec.cli", "serve", "--base", served_base, "--port", "0", "--poll-seconds", "0.5"],
        stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        line = lines.get(timeout=120)
        match = re.search(r"listening on (\S+):(\d+)", line)
        assert match, line
        with ServingClient(f"127.0.0.1:{match.group(2)}") as client:
            assert len(client.recommend(["u1"], 4)[0]) == 4
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        stderr.close()
    assert returncode == 0, (tmp_path / "serve.stderr").read_text()[-2000:]
    assert elapsed < 5, f"shutdown took {elapsed:.1f}s"
    assert "stopped" in lines.get(timeout=5)
