"""REST cases: TF Serving's REST API (``--rest_api_port``) as ``http_rest_api_handler.cc`` and
``json_tensor.cc`` answer it; ``expected`` is the HTTP status, the detail the ``error`` text or the answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.serving.conformance.case import Answer, Case, Target


def call(target: Target, path: str, body: bytes | dict | None = None, method: str | None = None) -> Answer:
    """One HTTP call to the REST root; ``HTTP <status>`` and the error message (or the body) as detail."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(target.rest + path, data=data,
                                     method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8", "replace")
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        answer = None
    detail = answer["error"] if isinstance(answer, dict) and "error" in answer else " ".join(text.split())
    return Answer(f"HTTP {status}", detail)


def _model(target: Target, suffix: str = "") -> str:
    return f"/v1/models/{target.model}{suffix}"


def _predict(body, suffix: str = ":predict"):
    return lambda target: call(target, _model(target, suffix), body)


CASES = [
    Case("status of the served model", "REST", "HTTP 200", "200: model_version_status, state AVAILABLE",
         lambda t: call(t, _model(t)), detail_contains='"state": "AVAILABLE"'),
    Case("status of a model that is not served", "REST", "HTTP 404",
         "404: Could not find any versions of model no_such_model",
         lambda t: call(t, "/v1/models/no_such_model"), detail_contains="no_such_model"),
    Case("status of a version that is not served", "REST", "HTTP 404",
         "404: Could not find version 99 of model ...", lambda t: call(t, _model(t, "/versions/99")),
         detail_contains="Could not find version 99"),
    Case("status without a model name", "REST", "HTTP 400", "400: Missing model name in request.",
         lambda t: call(t, "/v1/models"), detail_contains="Missing model name in request."),
    Case("metadata of the served model", "REST", "HTTP 200", "200: model_spec and metadata.signature_def",
         lambda t: call(t, _model(t, "/metadata")), detail_contains='"signature_def"'),
    Case("predict, row format (instances)", "REST", "HTTP 200", "200: predictions, one per instance",
         _predict({"instances": ["u1", "u2"]}), detail_contains='"predictions"'),
    Case("predict, columnar format (inputs)", "REST", "HTTP 200", "200: outputs, one per output tensor",
         _predict({"inputs": {"user_id": ["u1"]}}), detail_contains='"outputs"'),
    Case("predict on a pinned version", "REST", "HTTP 200", "200: predictions",
         _predict({"instances": ["u1"]}, "/versions/1:predict"), detail_contains='"predictions"'),
    Case("predict on a version that is not served", "REST", "HTTP 404", "404: servable not found",
         _predict({"instances": ["u1"]}, "/versions/99:predict")),
    Case("predict with a body that is not JSON", "REST", "HTTP 400", "400: JSON Parse error: ...",
         _predict(b'{"instances": ['), detail_contains="JSON Parse error"),
    Case("predict without instances or inputs", "REST", "HTTP 400", "400: Missing 'inputs' or 'instances' key",
         _predict({"users": ["u1"]}), detail_contains="Missing 'inputs' or 'instances' key"),
    Case("predict with both instances and inputs", "REST", "HTTP 400",
         "400: ... expecting only one of 'inputs' or 'instances' keys to exist",
         _predict({"instances": ["u1"], "inputs": ["u1"]}), detail_contains="expecting only one of"),
    Case("predict with a number for a string input", "REST", "HTTP 400",
         "400: JSON Value: 7 Type: Number is not of expected type: string", _predict({"instances": [7]}),
         detail_contains="is not of expected type"),
    Case("predict with ragged rows", "REST", "HTTP 400", "400: Expecting tensor size: 2 but got: 1",
         _predict({"instances": [["u1", "u2"], ["u3"]]}), detail_contains="Expecting tensor size: 2 but got: 1"),
    Case("predict with bad base64", "REST", "HTTP 400", "400: Unable to base64 decode",
         _predict({"instances": [{"b64": "%%%"}]}), detail_contains="Unable to base64 decode"),
    Case("predict on an unknown signature", "REST", "HTTP 400",
         '400: Serving signature name: "nope" not found in signature def',
         _predict({"signature_name": "nope", "instances": ["u1"]}),
         detail_contains='Serving signature name: "nope" not found in signature def'),
    Case("predict with a non-string signature_name", "REST", "HTTP 400",
         "400: ... 'signature_name' key must be a string value.",
         _predict({"signature_name": 1, "instances": ["u1"]}), detail_contains="'signature_name' key must be"),
    Case("an unknown API method", "REST", "HTTP 400", "400: Malformed request: POST ...",
         _predict({"instances": ["u1"]}, ":explain"), detail_contains="Malformed request: POST"),
    Case("classify on a model without a classification signature", "REST", "HTTP 400",
         "400: No classification inputs found in SignatureDef: ...",
         _predict({"examples": [{"user_id": "u1"}]}, ":classify"),
         detail_contains="No classification inputs found in SignatureDef"),
    Case("regress on a model without a regression signature", "REST", "HTTP 400",
         "400: Expected one output Tensor.", _predict({"examples": [{"user_id": "u1"}]}, ":regress"),
         detail_contains="Expected one output Tensor."),
    Case("classify without examples", "REST", "HTTP 400", "400: ... key 'examples' is expected and was not found",
         _predict({"instances": ["u1"]}, ":classify"), detail_contains="'examples' is expected"),
    Case("Prometheus metrics", "REST", "HTTP 200", "200: the exposition text with :tensorflow:serving: metrics",
         lambda t: call(t, "/monitoring/prometheus/metrics"), detail_contains=":tensorflow:serving:request_count"),
]
