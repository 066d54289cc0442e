"""Servers for the serving tests: the development server in-process, and TF Serving when installed.

Every integration test takes the ``server`` fixture, which is parametrised
over both implementations of the protocol: ``dev`` (``tfrec serve``'s
``ModelServer`` on a free loopback port) and ``tensorflow_model_server`` (the
real binary as a subprocess, skipped with the reason printed when it is not
on PATH). The same assertions therefore hold for both.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import time

import pytest

from tfrec.export.retrieval_export import export_retrieval
from tfrec.export.serving_config import write_serving_files
from tfrec.serving.client import ServingClient
from tfrec.serving.model_server import ModelServer
from tfrec.training.experiment import Experiment

SERVER_KINDS = ["dev", "tensorflow_model_server"]
MAX_K = 20


@pytest.fixture(scope="session")
def trained(tiny_run):
    exp = Experiment.from_run(str(tiny_run))
    return exp, exp.load_model(str(tiny_run))


def export_base(trained, folder) -> str:
    """A model base path with version 1 of the tiny retrieval model and its serving files."""
    exp, model = trained
    export_retrieval(exp, model, str(folder), max_k=MAX_K)
    write_serving_files(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def served_base(trained, tmp_path_factory) -> str:
    """A base path shared by tests that only read it (nothing may add versions to it)."""
    return export_base(trained, tmp_path_factory.mktemp("served_base"))


@dataclasses.dataclass
class RunningServer:
    kind: str
    target: str  # gRPC host:port
    stop: callable
    rest: str | None = None  # REST root, http://host:port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_server(kind: str) -> str | None:
    """The binary of a real TF Serving, or a printed skip when it is not installed."""
    if kind == "dev":
        return None
    binary = shutil.which("tensorflow_model_server")
    if binary is None:
        pytest.skip("tensorflow_model_server is not on PATH; these tests ran against the development server only")
    return binary


def start_server(kind: str, base: str, poll_seconds: float = 1.0) -> RunningServer:
    """Starts a server of ``kind`` over ``base`` and waits (bounded) until retrieval is AVAILABLE."""
    if kind == "dev":
        server = ModelServer(base=base, port=0, poll_seconds=poll_seconds, rest_port=0)
        port = server.start()
        return RunningServer(kind, f"127.0.0.1:{port}", lambda: server.stop(grace_seconds=1.0),
                             rest=f"http://127.0.0.1:{server.rest.port}")
    binary = require_server(kind)
    port, rest_port = _free_port(), _free_port()
    log = open(os.path.join(base, f".tf_serving_{port}.log"), "w")
    monitoring = os.path.join(base, f".tf_serving_{port}.monitoring.config")
    with open(monitoring, "w") as f:
        f.write('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n')
    process = subprocess.Popen(
        [binary, f"--port={port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={os.path.join(base, 'models.config')}", f"--monitoring_config_file={monitoring}",
         f"--file_system_poll_wait_seconds={max(1, round(poll_seconds))}"],
        stdout=log, stderr=subprocess.STDOUT)

    def stop():
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()

    target = f"127.0.0.1:{port}"
    try:
        with ServingClient(target, timeout_s=2.0, retries=0) as client:
            client.wait_until_available("retrieval", timeout_s=60)
    except BaseException:
        stop()
        raise
    return RunningServer(kind, target, stop, rest=f"http://127.0.0.1:{rest_port}")


@pytest.fixture(scope="session", params=SERVER_KINDS)
def server(request, served_base):
    running = start_server(request.param, served_base)
    yield running
    running.stop()


@pytest.fixture
def client(server):
    with ServingClient(server.target, timeout_s=10.0, retries=2) as c:
        yield c


def wait_for(condition, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Polls ``condition`` until it is true or ``timeout_s`` passed; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())
