"""TF Serving's REST API over HTTP on loopback, on both server implementations, and its Prometheus page.

The examples of TF Serving's REST documentation (tensorflow.org/tfx/serving/api_rest)
adapted to the retrieval model: its signatures take a ``user_id`` string per row
(and ``with_history`` a ``history`` row of item ids).
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tfrec.errors import UserError
from tfrec.serving.client import ServingClient
from tfrec.serving.json_tensors import format_float
from tfrec.serving.model_server import ModelServer
from tfrec.serving.saved_model_recommender import SavedModelRecommender

from .conftest import MAX_K, wait_for

USERS = ["u1", "u2", "u17", "no-such-user"]


def http(root: str, path: str, body=None, method: str | None = None, timeout: float = 30.0):
    """``(HTTP status, parsed JSON or text)`` of one call; ``body``: a dict (sent as JSON) or raw bytes."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    request = urllib.request.Request(root + path, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


@pytest.fixture
def rest(server):
    if server.rest is None:
        pytest.skip(f"{server.kind} was started without a REST port")
    return server.rest


PREDICT = "/v1/models/retrieval:predict"


def test_status_as_the_documentation_shows_it(rest):
    status, answer = http(rest, "/v1/models/retrieval")
    assert status == 200
    assert answer == {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                                "status": {"error_code": "OK", "error_message": ""}}]}
    assert http(rest, "/v1/models/retrieval/versions/1")[1] == answer
    status, answer = http(rest, "/v1/models/retrieval/versions/99")
    assert status == 404 and "Could not find version 99 of model retrieval" in answer["error"]


def test_metadata_names_the_signature_inputs(rest):
    status, answer = http(rest, "/v1/models/retrieval/metadata")
    assert status == 200
    assert answer["model_spec"]["name"] == "retrieval" and answer["model_spec"]["version"] == "1"
    signature = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["user_id"]["dtype"] == "DT_STRING"
    assert [d["size"] for d in signature["outputs"]["scores"]["tensor_shape"]["dim"]] == ["-1", str(MAX_K)]


def test_predict_row_and_columnar_formats_equal_the_local_savedmodel(rest, served_base):
    local = SavedModelRecommender(served_base).raw(USERS, MAX_K)
    status, answer = http(rest, PREDICT, {"instances": USERS})  # a one-input signature: plain values
    assert status == 200 and len(answer["predictions"]) == len(USERS)
    assert [row["item_ids"] for row in answer["predictions"]] == local["item_ids"].astype(str).tolist()
    np.testing.assert_allclose([row["scores"] for row in answer["predictions"]], local["scores"], rtol=1e-6)
    named = http(rest, PREDICT, {"signature_name": "serving_default", "instances": [{"user_id": u} for u in USERS]})
    assert named == (200, answer)
    status, columnar = http(rest, PREDICT, {"inputs": {"user_id": USERS}})
    assert status == 200 and set(columnar["outputs"]) == {"item_ids", "scores"}
    assert columnar["outputs"]["item_ids"] == local["item_ids"].astype(str).tolist()
    assert http(rest, PREDICT, {"inputs": USERS})[1] == columnar  # one input: the value alone
    pinned = http(rest, "/v1/models/retrieval/versions/1:predict", {"instances": USERS})
    assert pinned == (200, answer)


def test_binary_strings_travel_as_b64(rest):
    plain = http(rest, PREDICT, {"instances": ["u1", "u2"]})
    encoded = [{"b64": base64.b64encode(u.encode()).decode()} for u in ("u1", "u2")]
    assert http(rest, PREDICT, {"instances": encoded}) == plain
    assert http(rest, PREDICT, {"inputs": {"user_id": encoded}})[1]["outputs"]["item_ids"] == \
        [row["item_ids"] for row in plain[1]["predictions"]]


def test_floats_are_written_as_tf_serving_writes_them(rest, client):
    """The shortest %g text that reads back to the same float32, as json_tensor.cc writes them."""
    scores = client.retrieve(["u1"], MAX_K)[0]["scores"][0]
    with urllib.request.urlopen(urllib.request.Request(
            rest + PREDICT, data=json.dumps({"instances": ["u1"]}).encode()), timeout=30) as response:
        text = response.read().decode()
    assert "[" + ", ".join(format_float(float(s), single=True) for s in scores) + "]" in text
    assert format_float(0.2, single=True) == "0.2" and format_float(3.0, single=True) == "3.0"
    assert format_float(float(np.float32(3.14159274)), single=True) == "3.14159274"
    assert [format_float(v, True) for v in (float("nan"), float("-inf"), 1e-05)] == ["NaN", "-Infinity", "1e-05"]


@pytest.mark.parametrize("body, message", [
    (b"", "JSON Parse error: The document is empty"),
    (b'{"instances": ["u1"', "JSON Parse error"),
    (b"[" * 200_000, "JSON Parse error"),  # nested far deeper than any parser stack
    (b'["u1"]', "Is not object"),
    (b'{"signature_name": 7, "instances": ["u1"]}', "'signature_name' key must be a string value"),
    (b'{"users": ["u1"]}', "Missing 'inputs' or 'instances' key"),
    (b'{"instances": ["u1"], "inputs": ["u1"]}', "expecting only one of 'inputs' or 'instances'"),
    (b'{"instances": []}', "No values in 'instances' array"),
    (b'{"instances": "u1"}', "Expecting 'instances' to be an list/array"),
    (b'{"instances": [1, 2]}', "is not of expected type: string"),
    (b'{"instances": [["u1", "u2"], ["u3"]]}', "Expecting tensor size: 2 but got: 1"),  # ragged rows
    (b'{"instances": [{"b64": "not base64!"}]}', "Unable to base64 decode"),
    (b'{"instances": [{"user": "u1"}]}', "does not have named input: user"),
    (b'{"inputs": {"user_id": [["u1"], "u2"]}}', "found at incorrect level"),
    (b'{"inputs": {"user_id": "u1"}}', ""),  # a scalar where the signature wants [B]
    (b'{"signature_name": "nope", "instances": ["u1"]}', 'Serving signature name: "nope" not found'),
    (b'\xff\xfe{"instances": []}', "JSON Parse error"),
])
def test_hostile_bodies_are_400_with_a_message_and_the_server_lives_on(rest, body, message):
    status, answer = http(rest, PREDICT, body, method="POST")
    assert status == 400, answer
    assert message in answer["error"], answer
    assert http(rest, PREDICT, {"instances": ["u1"]})[0] == 200


def test_more_rows_than_the_limit_are_refused_as_over_grpc(rest, server):
    if server.kind != "dev":
        pytest.skip("the row limit is tfrec serve's (--max-rows)")
    for body in ({"inputs": {"user_id": ["u1"] * 10_001}}, {"instances": ["u1"] * 10_001}):
        status, answer = http(rest, PREDICT, body)
        assert status == 400 and "more than the limit of 10000 rows" in answer["error"]


def test_unknown_models_versions_and_paths(rest):
    assert http(rest, "/v1/models/no_such_model:predict", {"instances": ["u1"]})[0] == 404
    assert http(rest, "/v1/models/retrieval/versions/99:predict", {"instances": ["u1"]})[0] == 404
    assert http(rest, "/v1/models/no_such_model")[0] == 404
    status, answer = http(rest, "/v1/models")
    assert status == 400 and answer["error"] == "Missing model name in request."
    status, answer = http(rest, "/v1/models/retrieval:explain", {"instances": ["u1"]})
    assert status == 400 and answer["error"].startswith("Malformed request: POST /v1/models/retrieval:explain")
    assert http(rest, "/v1/models/retrieval", method="DELETE")[0] == 400


def test_classify_and_regress_are_refused_as_for_a_model_without_such_signatures(rest):
    body = {"examples": [{"user_id": "u1"}]}
    status, answer = http(rest, "/v1/models/retrieval:classify", body)
    assert status == 400 and "No classification inputs found in SignatureDef" in answer["error"]
    status, answer = http(rest, "/v1/models/retrieval:regress", body)
    assert status == 400 and answer["error"] == "Expected one output Tensor."
    status, answer = http(rest, "/v1/models/retrieval:classify", {"instances": ["u1"]})
    assert status == 400 and "key 'examples' is expected" in answer["error"]


def _samples(root: str) -> dict:
    with urllib.request.urlopen(root + "/monitoring/prometheus/metrics", timeout=30) as response:
        assert response.status == 200
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_prometheus_counts_grpc_and_rest_calls_under_tf_servings_names(rest, server):
    ok = (":tensorflow:serving:request_count", (("model_name", "retrieval"), ("status", "OK")))
    bad = (":tensorflow:serving:request_count", (("model_name", "retrieval"), ("status", "INVALID_ARGUMENT")))
    before = _samples(rest)
    assert http(rest, PREDICT, {"instances": ["u1"]})[0] == 200
    assert http(rest, PREDICT, {"instances": [1]})[0] == 400
    with ServingClient(server.target, timeout_s=10.0, retries=0) as client:
        client.recommend(["u1"], 3)
    after = _samples(rest)
    assert after[ok] - before.get(ok, 0) == 2 and after[bad] - before.get(bad, 0) == 1
    for entrypoint, api in (("GRPC", "Predict"), ("REST", "predict")):
        labels = (("API", api), ("entrypoint", entrypoint), ("model_name", "retrieval"))
        count = after[(":tensorflow:serving:request_latency_count", labels)]
        assert count - before.get((":tensorflow:serving:request_latency_count", labels), 0) == 1
        assert after[(":tensorflow:serving:request_latency_bucket", tuple(sorted(labels + (("le", "+Inf"),))))] == count
        assert after[(":tensorflow:serving:request_latency_sum", labels)] > 0  # microseconds
    if server.kind == "dev":  # tfrec's own histogram adds version and signature
        key = (":tfrec:serving:request_latency_count",
               (("API", "predict"), ("entrypoint", "REST"), ("model_name", "retrieval"),
                ("signature_name", "serving_default"), ("status", "OK"), ("version", "1")))
        assert after[key] >= 1


# -- the dev server's own limits -------------------------------------------------------------------
@pytest.fixture
def strict_server(served_base):
    server = ModelServer(base=served_base, port=0, poll_seconds=0, rest_port=0, max_message_mb=1,
                         rest_read_timeout_s=0.5)
    server.start()
    yield server, f"http://127.0.0.1:{server.rest.port}"
    server.stop(grace_seconds=1.0)


def test_a_body_over_max_message_mb_is_refused_unread(strict_server):
    _, root = strict_server
    status, answer = http(root, PREDICT, b'{"instances": ["' + b"u" * (2 << 20) + b'"]}')
    assert status == 400 and "larger than the limit of 1048576 bytes (--max-message-mb)" in answer["error"]
    assert http(root, PREDICT, {"instances": ["u1"]})[0] == 200


def test_a_slow_client_is_cut_off_and_others_are_served(strict_server):
    _, root = strict_server
    port = int(root.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(b"POST /v1/models/retrieval:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inst")
        assert http(root, PREDICT, {"instances": ["u1"]})[0] == 200  # served meanwhile
        started = time.monotonic()
        reply = b""
        while chunk := slow.recv(65536):  # the server closes the connection after its answer
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 400") and "not received within 0.5s" in reply
    assert time.monotonic() - started < 5


def test_connections_beyond_the_limit_get_503_until_idle_ones_time_out(served_base):
    server = ModelServer(base=served_base, port=0, poll_seconds=0, rest_port=0, max_concurrent_rpcs=2,
                         rest_read_timeout_s=1.0)
    server.start()
    root = f"http://127.0.0.1:{server.rest.port}"
    try:
        idle = [socket.create_connection(("127.0.0.1", server.rest.port), timeout=10) for _ in range(2)]
        time.sleep(0.2)
        status, answer = http(root, PREDICT, {"instances": ["u1"]})
        assert status == 503 and "too many connections" in answer["error"]
        for s in idle:
            s.recv(1)  # the server closes each idle connection after its read timeout
            s.close()
        assert wait_for(lambda: http(root, PREDICT, {"instances": ["u1"]})[0] == 200, timeout_s=10, interval_s=0.2)
    finally:
        server.stop(grace_seconds=1.0)


def test_a_rest_port_in_use_is_one_line_at_start(served_base):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        server = ModelServer(base=served_base, port=0, poll_seconds=0, rest_port=taken)
        with pytest.raises(UserError) as e:
            server.start()
        server.stop()
    assert str(e.value) == f"REST API: port {taken} on 127.0.0.1 is already in use"


# -- with_history: the user's recent items in the request -------------------------------------------
@pytest.fixture(scope="module")
def history_server(tiny_sequential_run, tmp_path_factory):
    from tfrec.export.retrieval_export import export_retrieval
    from tfrec.training.experiment import Experiment

    exp = Experiment.from_run(str(tiny_sequential_run), log=lambda *_: None)
    base = str(tmp_path_factory.mktemp("history_base"))
    export_retrieval(exp, exp.load_model(str(tiny_sequential_run)), base, max_k=40, log=lambda *_: None)
    server = ModelServer(base=base, port=0, poll_seconds=0, rest_port=0)
    server.start()
    items = [str(i) for i in exp.split.train.item_id.value_counts().index[:12]]
    yield server, f"http://127.0.0.1:{server.rest.port}", items
    server.stop(grace_seconds=1.0)


def test_with_history_over_rest_gives_the_same_top_items_as_grpc(history_server):
    server, root, items = history_server
    users, histories = ["u1", "u2", "stranger"], [items[:8], items[2:10], items[8:12] + [""] * 4]
    with ServingClient(f"127.0.0.1:{server.port}", timeout_s=30.0, retries=0) as client:
        grpc_outputs, _ = client.retrieve(users, 10, histories=histories)
    status, answer = http(root, PREDICT, {"signature_name": "with_history",
                                          "instances": [{"user_id": u, "history": h}
                                                        for u, h in zip(users, histories)]})
    assert status == 200, answer
    rest_top = [row["item_ids"][:10] for row in answer["predictions"]]
    assert rest_top == grpc_outputs["item_ids"].astype(str).tolist()
    assert {"because", "because_score", "item_ids", "scores"} <= set(answer["predictions"][0])
    status, columnar = http(root, PREDICT, {"signature_name": "with_history",
                                            "inputs": {"user_id": users, "history": histories}})
    assert [row[:10] for row in columnar["outputs"]["item_ids"]] == rest_top
    status, answer = http(root, PREDICT, {"signature_name": "with_history",
                                          "instances": [{"user_id": "u1", "history": items[:8]},
                                                        {"user_id": "u2", "history": items[:3]}]})
    assert status == 400 and "Expecting tensor size: 8 but got: 3" in answer["error"]


def test_the_rest_port_is_off_by_default_and_binds_loopback(served_base):
    from tfrec.cli import build_parser

    assert build_parser().parse_args(["serve"]).rest_port is None
    assert build_parser().parse_args(["serve", "--rest-port", "8501"]).rest_port == 8501
    assert ModelServer(base=served_base, port=0).rest is None
    server = ModelServer(base=served_base, port=0, poll_seconds=0, rest_port=0)
    server.start()
    try:
        assert server.rest._http.server_address[0] == "127.0.0.1"
    finally:
        server.stop(grace_seconds=1.0)


def test_rest_answers_the_same_when_grpc_sends_tensor_content(served_base):
    """--enable-serialization-as-tensor-content changes the gRPC encoding only; REST reads both."""
    answers = []
    for tensor_content in (False, True):
        server = ModelServer(base=served_base, port=0, poll_seconds=0, rest_port=0, tensor_content=tensor_content)
        server.start()
        try:
            root = f"http://127.0.0.1:{server.rest.port}"
            answers.append(http(root, PREDICT, {"instances": [{"user_id": "u1"}, {"user_id": "u2"}]}))
        finally:
            server.stop(grace_seconds=1.0)
    assert answers[0][0] == answers[1][0] == 200
    assert answers[0][1] == answers[1][1] and len(answers[0][1]["predictions"]) == 2
