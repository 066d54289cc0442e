"""``tfrec serve`` start-up mistakes: one line on stderr and exit status 2, before anything is served.

A port that another server already holds must not be shared (gRPC would
otherwise bind it too, with SO_REUSEPORT, and the kernel would split the calls
between the two servers), and a TLS key that belongs to another certificate
must be named as such rather than surfacing as gRPC's "Failed to bind".
"""

from __future__ import annotations


from tfrec.cli import main
from tfrec.serving.model_server import ModelServer


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if line.startswith("tfrec serve")]
    assert len(lines) == 1, err
    assert not any("Traceback" in line for line in err), err
    return lines[0]


def test_a_port_already_served_is_refused_with_one_line_and_status_2(tmp_path, capsys):
    first = ModelServer(base=str(tmp_path), port=0, poll_seconds=0)
    port = first.start()
    try:
        assert main(["serve", "--base", str(tmp_path), "--port", str(port), "--poll-seconds", "0"]) == 2
        line = one_line(capsys)
        assert f"port {port} on 127.0.0.1 is already in use" in line, line
    finally:
        first.stop(0)


def test_a_free_port_still_binds_after_a_refusal(tmp_path):
    first = ModelServer(base=str(tmp_path), port=0, poll_seconds=0)
    port = first.start()
    first.stop(0)
    again = ModelServer(base=str(tmp_path), port=port, poll_seconds=0)
    try:
        assert again.start() == port
    finally:
        again.stop(0)
