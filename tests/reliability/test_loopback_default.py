"""The development server listens on loopback unless told otherwise.

Both the ``ModelServer`` default and ``tfrec serve``'s ``--host`` default are
127.0.0.1; a default server must not be reachable on any other address of
the machine (checked on every non-loopback IPv4 address found, if any).
"""

from __future__ import annotations

import inspect
import socket
import subprocess

from tests.reliability.tally import TALLY
from tfrec.cli import build_parser
from tfrec.serving.model_server import ModelServer


def other_addresses() -> list[str]:
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out if "." in a and not a.startswith("127.")]


def test_server_binds_loopback_by_default(served_base):
    assert inspect.signature(ModelServer).parameters["host"].default == "127.0.0.1"
    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    server = ModelServer(base=served_base, port=0)
    port = server.start()
    refused = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        for address in other_addresses():
            try:
                with socket.create_connection((address, port), timeout=2):
                    raise AssertionError(f"the default server is reachable on {address}:{port}")
            except OSError:
                refused += 1
    finally:
        server.stop(grace_seconds=1)
    TALLY.add("security", "default bind address", host="127.0.0.1", other_addresses_refused=refused)
