"""The client's retry policy (UNAVAILABLE only), deadlines, and ``tfrec recommend --server``."""

import concurrent.futures
import time

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tfrec import cli
from tfrec.serving.client import ServingClient
from tfrec.serving.errors import ServingError


class ScriptedPredictions(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Answers Predict with the scripted status codes in turn, then OK; counts the calls."""

    def __init__(self, codes, delay_s=0.0):
        self.codes, self.delay_s, self.calls = list(codes), delay_s, 0

    def Predict(self, request, context):
        self.calls += 1
        time.sleep(self.delay_s)
        if self.codes:
            context.abort(self.codes.pop(0), "scripted failure")
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = 7
        return response


@pytest.fixture
def scripted():
    servers = []

    def start(codes, delay_s=0.0):
        servicer = ScriptedPredictions(codes, delay_s)
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return servicer, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def test_unavailable_is_retried_with_backoff(scripted):
    servicer, target = scripted([grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE])
    with ServingClient(target, retries=2, backoff_s=0.01) as client:
        _, version = client.predict("m", {"x": [1.0]})
    assert version == 7 and servicer.calls == 3


def test_other_errors_are_not_retried(scripted):
    servicer, target = scripted([grpc.StatusCode.INVALID_ARGUMENT])
    with ServingClient(target, retries=3, backoff_s=0.01) as client, pytest.raises(ServingError) as e:
        client.predict("m", {"x": [1.0]})
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and servicer.calls == 1


def test_retries_are_bounded(scripted):
    servicer, target = scripted([grpc.StatusCode.UNAVAILABLE] * 10)
    with ServingClient(target, retries=2, backoff_s=0.01) as client, pytest.raises(ServingError) as e:
        client.predict("m", {"x": [1.0]})
    assert e.value.code == grpc.StatusCode.UNAVAILABLE and servicer.calls == 3


def test_every_call_has_a_deadline(scripted):
    servicer, target = scripted([], delay_s=1.0)
    started = time.monotonic()
    with ServingClient(target, timeout_s=0.2, retries=3) as client, pytest.raises(ServingError) as e:
        client.predict("m", {"x": [1.0]})
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and servicer.calls == 1
    assert time.monotonic() - started < 1.0


def test_no_server_is_unavailable_after_the_retries(scripted):
    _, target = scripted([])
    port = int(target.rsplit(":", 1)[1])
    with ServingClient(f"127.0.0.1:{port + 1 if port < 65535 else port - 1}", timeout_s=1.0, retries=1,
                       backoff_s=0.01) as client, pytest.raises(ServingError) as e:
        client.recommend(["u1"], 3)
    assert e.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_cli_recommend_over_grpc_prints_the_local_table(server, served_base, capsys):
    if server.kind != "dev":
        pytest.skip("compared once, against the development server")
    assert cli.main(["recommend", "--user", "u1", "--user", "u2", "--k", "5", "--base", served_base]) == 0
    local = capsys.readouterr().out
    assert cli.main(["recommend", "--user", "u1", "--user", "u2", "--k", "5", "--server", server.target]) == 0
    remote = capsys.readouterr().out

    def rows(text):
        return [line.split()[:3] for line in text.splitlines() if line[:4].strip().rstrip(".").isdigit()]

    assert rows(remote) == rows(local) and len(rows(local)) == 10
    assert "retrieval model version 1" in remote


def test_cli_recommend_over_grpc_reports_errors_in_one_line(server, capsys):
    if server.kind != "dev":
        pytest.skip("checked once, against the development server")
    assert cli.main(["recommend", "--user", "u1", "--k", "500", "--server", server.target]) == 2
    err = capsys.readouterr().err
    assert "INVALID_ARGUMENT" in err and len(err.strip().splitlines()) == 1
