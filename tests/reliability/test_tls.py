"""TLS and mutual TLS between ``ServingClient`` and the development server.

Certificates come from a throw-away CA made in the test (``tls_certs.py``,
needs the ``cryptography`` package). With TLS a client must trust the
server's CA; with mutual TLS the server must refuse a client that presents
no certificate or one from another CA, and ``tfrec serve`` must take the
same options on its command line.
"""

from __future__ import annotations

import collections

import grpc
import pytest

pytest.importorskip("cryptography", reason="TLS tests need cryptography (pin: cryptography==50.0.2)")

from tests.reliability.server_process import ServerProcess  # noqa: E402
from tests.reliability.tally import TALLY  # noqa: E402
from tests.reliability.tls_certs import make_pki  # noqa: E402
from tfrec.cli import main  # noqa: E402
from tfrec.serving.client import ServingClient  # noqa: E402
from tfrec.serving.errors import ServingError  # noqa: E402
from tfrec.serving.model_server import ModelServer  # noqa: E402

TRIED = collections.Counter()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


def answers(target, **tls) -> bool:
    with ServingClient(target, timeout_s=5, retries=0, **tls) as client:
        return len(client.recommend(["u1"], k=3)[0]) == 3


def refused(target, **tls) -> grpc.StatusCode:
    with ServingClient(target, timeout_s=5, retries=0, **tls) as client:
        with pytest.raises(ServingError) as e:
            client.recommend(["u1"], k=3)
    TRIED["refused"] += 1
    return e.value.code


def test_tls_server_needs_a_client_that_trusts_its_ca(served_base, pki):
    server = ModelServer(base=served_base, port=0, tls_cert=pki.server_cert, tls_key=pki.server_key)
    target = f"127.0.0.1:{server.start()}"
    try:
        assert answers(target, root_certificates=pki.ca)
        assert answers(target, root_certificates=open(pki.ca, "rb").read())  # bytes or a path
        TRIED["accepted"] += 2
        assert refused(target) == grpc.StatusCode.UNAVAILABLE                               # plaintext
        assert refused(target, root_certificates=pki.other_ca) == grpc.StatusCode.UNAVAILABLE  # wrong CA
    finally:
        server.stop(grace_seconds=1)


def test_mutual_tls_refuses_clients_without_a_certificate_from_its_ca(served_base, pki):
    server = ModelServer(base=served_base, port=0, tls_cert=pki.server_cert, tls_key=pki.server_key,
                         tls_client_ca=pki.ca)
    target = f"127.0.0.1:{server.start()}"
    try:
        assert answers(target, root_certificates=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key)
        TRIED["accepted"] += 1
        assert refused(target, root_certificates=pki.ca) == grpc.StatusCode.UNAVAILABLE      # no certificate
        assert refused(target, root_certificates=pki.ca, client_cert=pki.other_client_cert,
                       client_key=pki.other_client_key) == grpc.StatusCode.UNAVAILABLE       # stranger's CA
        assert refused(target) == grpc.StatusCode.UNAVAILABLE                                # plaintext
    finally:
        server.stop(grace_seconds=1)


def test_tfrec_serve_and_recommend_take_the_tls_options(served_base, pki, tmp_path, capsys):
    server = ServerProcess.start(served_base, str(tmp_path), extra=(
        "--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-client-ca", pki.ca))
    try:
        assert answers(server.target, root_certificates=pki.ca, client_cert=pki.client_cert,
                       client_key=pki.client_key)
        TRIED["accepted"] += 1
        assert refused(server.target, root_certificates=pki.ca) == grpc.StatusCode.UNAVAILABLE
        command = ["recommend", "--server", server.target, "--user", "u1", "--k", "3", "--tls-ca", pki.ca]
        assert main([*command, "--tls-cert", pki.client_cert, "--tls-key", pki.client_key]) == 0
        assert "top 3 for user u1" in capsys.readouterr().out
        TRIED["accepted"] += 1
        assert main(command) == 2
        assert "UNAVAILABLE" in capsys.readouterr().err
        TRIED["refused"] += 1
    finally:
        server.stop()


def test_incomplete_tls_settings_are_refused_up_front(served_base, pki, tmp_path, capsys):
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("hello")
    with pytest.raises(ValueError, match="both --tls-cert and --tls-key"):
        ModelServer(base=served_base, port=0, tls_cert=pki.server_cert)
    with pytest.raises(ValueError, match="needs --tls-cert"):
        ModelServer(base=served_base, port=0, tls_client_ca=pki.ca)
    with pytest.raises(ValueError, match="not a PEM file"):
        ModelServer(base=served_base, port=0, tls_cert=pki.server_cert, tls_key=str(not_pem))
    with pytest.raises(ValueError, match="go together"):
        ServingClient("127.0.0.1:1", root_certificates=pki.ca, client_cert=pki.client_cert)
    # On the command line the same mistakes are one line and exit status 2, before anything starts.
    assert main(["serve", "--base", served_base, "--port", "0", "--tls-client-ca", pki.ca]) == 2
    assert "needs --tls-cert and --tls-key" in capsys.readouterr().err
    TRIED["misconfigurations refused"] += 5
    TALLY.add("security", "TLS / mutual TLS connections", **TRIED)


def test_a_key_that_does_not_match_its_certificate_is_named_in_one_line(pki, tmp_path, capsys):
    """The client's key with the server's certificate: said so at start, not gRPC's "Failed to bind"."""
    with pytest.raises(ValueError, match="does not match the certificate"):
        ModelServer(base=str(tmp_path), port=0, tls_cert=pki.server_cert, tls_key=pki.client_key)
    assert main(["serve", "--base", str(tmp_path), "--port", "0", "--poll-seconds", "0",
                 "--tls-cert", pki.server_cert, "--tls-key", pki.client_key]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert f"TLS key {pki.client_key} does not match the certificate {pki.server_cert}" in err[0], err
    assert "Failed to bind" not in err[0]
