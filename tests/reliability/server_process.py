"""``tfrec serve`` as a subprocess: started on loopback, watched through /proc, stopped or killed.

The abuse, restart and soak tests talk to a real server process, so a crash,
a leak or a hang shows as what it is (a dead process, a growing resident set,
a missing answer) instead of being hidden inside the test process.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

MAX_K = 20
START_TIMEOUT_S = 120


def export_base(trained, folder) -> str:
    """Version 1 of the tiny retrieval model and its serving files under ``folder``."""
    from tfrec.export.retrieval_export import export_retrieval
    from tfrec.export.serving_config import write_serving_files

    exp, model = trained
    export_retrieval(exp, model, str(folder), max_k=MAX_K)
    write_serving_files(str(folder))
    return str(folder)


@dataclasses.dataclass
class ServerProcess:
    process: subprocess.Popen
    port: int
    log_path: str
    args: list

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, base: str, log_dir: str, port: int = 0, extra: tuple = ()) -> "ServerProcess":
        """Starts ``tfrec serve`` and waits (bounded) for its "listening on" line."""
        args = [sys.executable, "-m", "tfrec.cli", "serve", "--base", base, "--port", str(port),
                "--poll-seconds", "0.5", *extra]
        log_path = os.path.join(log_dir, f"serve-{time.monotonic_ns()}.stderr")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        with open(log_path, "w") as log:
            process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if process.poll() is not None:
                    break
                continue
            match = re.search(r"listening on \S+:(\d+)", line)
            if match:
                return cls(process, int(match.group(1)), log_path, args)
        process.kill()
        process.wait(10)
        with open(log_path) as f:
            raise RuntimeError(f"tfrec serve did not start: {f.read()[-2000:]}")

    def rss_mb(self) -> float:
        """Resident set size of the server process, from /proc."""
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no grace, as a crash or an OOM kill."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
