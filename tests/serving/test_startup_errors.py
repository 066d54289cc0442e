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


def test_a_version_label_at_start_up_is_one_line_unless_the_flag_allows_it(tmp_path, capsys):
    """TF Serving assigns labels before it loads anything: without the flag it refuses to start."""
    (tmp_path / "retrieval" / "1").mkdir(parents=True)
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "retrieval" base_path: "{tmp_path / "retrieval"}" '
                      'model_platform: "tensorflow" version_labels { key: "stable" value: 1 } } }')
    assert main(["serve", "--model-config-file", str(config), "--port", "0", "--poll-seconds", "0"]) == 2
    line = one_line(capsys)
    assert f"{config}: Request to assign label to version 1 of model retrieval" in line, line
    assert "--allow-version-labels-for-unavailable-models" in line
    allowed = ModelServer(model_config_file=str(config), port=0, poll_seconds=0,
                          allow_version_labels_for_unavailable_models=True)
    try:
        assert allowed.start() > 0
    finally:
        allowed.stop(0)
