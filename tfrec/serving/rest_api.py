"""TF Serving's REST API (``--rest_api_port``) in front of the development server's gRPC services.

    GET  /v1/models/NAME[/versions/N | /labels/L]             model status (GetModelStatus)
    GET  /v1/models/NAME[/versions/N | /labels/L]/metadata    signatures (GetModelMetadata)
    POST /v1/models/NAME[/versions/N | /labels/L]:predict     {"instances": ...} or {"inputs": ...}
    POST /v1/models/NAME[/versions/N | /labels/L]:classify    (and :regress) {"examples": [...]}
    GET  /monitoring/prometheus/metrics                        request counts and latencies

The paths are matched as ``http_rest_api_handler.cc`` matches them (same
regular expressions, case-insensitive, names and labels URL-decoded); the
bodies are read and written as ``json_tensor.cc`` does (see
:mod:`tfrec.serving.json_tensors`). A REST call becomes the gRPC request TF
Serving would build and goes through the very ``PredictionServicer`` and
``ModelServicer`` objects the gRPC server uses, so the registry, the checks
against the signature, the row and size limits (``RequestLimits``) and the
request batcher are the same for both. A failure answers
``{"error": "<message>"}`` with TF Serving's HTTP status for its code
(INVALID_ARGUMENT and FAILED_PRECONDITION 400, NOT_FOUND 404, UNIMPLEMENTED
501, INTERNAL 500, ...).

Against hostile clients: a body longer than ``max_body_bytes`` (the gRPC
message limit, ``--max-message-mb``) is refused before it is read; a body or
request line that does not arrive within ``read_timeout_s`` ends the
connection (a body: with 400); at most ``max_connections`` connections are
served at once and the next ones get 503; nothing the body holds is walked
recursively, and any bug answers 500 with a message instead of ending the
server.
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import socket
import threading
import time
import urllib.parse

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2, predict_pb2)

from tfrec.serving import example_methods, json_tensors
from tfrec.serving.errors import ServingError
from tfrec.serving.serving_metrics import CONTENT_TYPE, ServingMetrics
from tfrec.serving.tensor_encoding import decode_tensor

log = logging.getLogger("tfrec.serving.rest")

PREDICTION_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I)
STATUS_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
                         re.I)
API_PATH = re.compile(r"/v1/.*", re.I)
METRICS_PATH = "/monitoring/prometheus/metrics"
_INT64_MAX = 2**63 - 1

# TF Serving's http_server.cc ToHTTPStatusCode.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409, grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500, grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


class _InProcessContext:
    """What the servicers need of a ``grpc.ServicerContext``: ``abort`` raises the ServingError instead."""

    def abort(self, code, details):
        raise ServingError(code, details)

    def is_active(self) -> bool:
        return True


class RestApi:
    """The REST calls as functions of (method, path, body): ``handle`` returns the HTTP status and the JSON."""

    def __init__(self, prediction, models, metrics: ServingMetrics):
        self.prediction, self.models, self.metrics = prediction, models, metrics

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str]:
        """Answers one call and records it (count, and latency when OK) as TF Serving's REST handler does."""
        started = time.perf_counter()
        route = {"model": "", "api": "", "version": "", "signature": ""}
        try:
            text, code = self._dispatch(method, path, body, route), grpc.StatusCode.OK
        except ServingError as e:
            text, code = json.dumps({"error": e.message}, ensure_ascii=False), e.code
        except Exception as e:  # noqa: BLE001 - a bug must not take the server down
            log.exception("internal error while answering %s %s", method, path)
            text, code = json.dumps({"error": f"internal error: {type(e).__name__}: {e}"}), grpc.StatusCode.INTERNAL
        self.metrics.record(route["model"], route["api"], "REST", code.name, time.perf_counter() - started,
                            version=route["version"], signature_name=route["signature"])
        return HTTP_STATUS.get(code, 500), text

    # -- routing ---------------------------------------------------------------------------------
    def _dispatch(self, method: str, path: str, body: bytes, route: dict) -> str:
        malformed = _invalid(f"Malformed request: {method} {path}")
        if method == "POST":
            match = PREDICTION_PATH.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, api = match.groups()
            spec = _model_spec(name, version, label)
            route["model"], route["api"] = spec.name, api.lower()
            return {"predict": self._predict, "classify": self._classify,
                    "regress": self._classify}[api.lower()](spec, body, route)
        if method == "GET":
            match = STATUS_PATH.fullmatch(path)
            if match is None:
                raise malformed
            name, version, label, subresource = match.groups()
            spec = _model_spec(name, version, label) if name else model_pb2.ModelSpec()
            route["model"] = spec.name
            if not spec.name:
                raise _invalid("Missing model name in request.")
            return self._metadata(spec) if subresource else self._status(spec)
        raise malformed

    # -- the calls -------------------------------------------------------------------------------
    def _predict(self, spec, body: bytes, route: dict) -> str:
        doc = json_tensors.parse_body(body)
        spec.signature_name = json_tensors.signature_name_of(doc)
        route["signature"] = spec.signature_name
        servable = self.prediction.registry.resolve(spec)  # NOT_FOUND before the body's tensors are read
        signature_key = spec.signature_name or "serving_default"
        if signature_key not in servable.signature_defs:
            raise _invalid(f'Serving signature name: "{signature_key}" not found in signature def')
        instances, max_rows = doc.get("instances"), servable.limits.rows_for(signature_key)
        if isinstance(instances, list) and len(instances) > max_rows:  # before a tensor is built, as over gRPC
            raise _invalid(f"'instances' has {len(instances)} rows, more than the limit of {max_rows} rows for "
                           f"signature '{signature_key}'")
        inputs, request_format = json_tensors.predict_inputs(doc, dict(servable.signature_defs[signature_key].inputs))
        request = predict_pb2.PredictRequest()
        request.model_spec.CopyFrom(spec)
        request.model_spec.ClearField("version_choice")
        request.model_spec.version.value = servable.version  # the version the inputs were read for
        for name, tensor in inputs.items():
            request.inputs[name].CopyFrom(tensor)
        response = self.prediction.Predict(request, _InProcessContext())
        route["version"] = str(response.model_spec.version.value)
        route["signature"] = response.model_spec.signature_name
        outputs = {alias: decode_tensor(tensor) for alias, tensor in response.outputs.items()}
        return json_tensors.predict_answer(outputs, request_format)

    def _classify(self, spec, body: bytes, route: dict) -> str:
        doc = json_tensors.parse_body(body)
        spec.signature_name = json_tensors.signature_name_of(doc)
        route["signature"] = spec.signature_name
        json_tensors.check_examples(doc, route["api"])
        servable = self.prediction.registry.resolve(spec)
        route["version"] = str(servable.version)
        example_methods.answer_on(servable, spec.signature_name, route["api"])

    def _status(self, spec) -> str:
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
        response = self.models.GetModelStatus(request, _InProcessContext())
        return json_format.MessageToJson(response, always_print_fields_with_no_presence=True, indent=1)

    def _metadata(self, spec) -> str:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=["signature_def"])
        response = self.prediction.GetModelMetadata(request, _InProcessContext())
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        options = dict(preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        return json.dumps({"model_spec": json_format.MessageToDict(response.model_spec, **options),
                           "metadata": {"signature_def": json_format.MessageToDict(signatures, **options)}},
                          indent=1)


def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=urllib.parse.unquote(name))
    if version is not None:
        number = int(version)
        if number > _INT64_MAX:
            raise _invalid(f"Failed to convert version: {version} to numeric.")
        spec.version.value = number
    if label is not None:
        spec.version_label = urllib.parse.unquote(label)
    return spec


class _Handler(http.server.BaseHTTPRequestHandler):
    """One HTTP/1.1 connection; the server object carries the API and the limits."""

    protocol_version = "HTTP/1.1"
    server_version = "tfrec-serve"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the client's
    # delayed ACK of the first (~40 ms on Linux) on every keep-alive call.
    disable_nagle_algorithm = True

    def setup(self):
        self.timeout = self.server.read_timeout_s  # per read: a silent client ends its own connection
        super().setup()

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: int, text: str, content_type: str = "application/json") -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _refuse(self, message: str) -> None:
        self.close_connection = True  # the unread body must not be taken for the next request
        self._reply(400, json.dumps({"error": message}))

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse("chunked request bodies are not supported; send Content-Length")
            return None
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit():
            self._refuse(f"Content-Length {length_text!r} is not a number of bytes")
            return None
        length = int(length_text)
        if length > self.server.max_body_bytes:
            self._refuse(f"request body of {length} bytes is larger than the limit of "
                         f"{self.server.max_body_bytes} bytes (--max-message-mb)")
            return None
        deadline = time.monotonic() + self.server.read_timeout_s
        chunks, left = [], length
        try:
            while left:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    self.close_connection = True  # the client went away mid-body
                    return None
                chunks.append(chunk)
                left -= len(chunk)
        except (TimeoutError, socket.timeout):
            self._refuse(f"request body not received within {self.server.read_timeout_s:g}s "
                         f"({length - left} of {length} bytes arrived)")
            return None
        finally:
            self.connection.settimeout(self.server.read_timeout_s)
        return b"".join(chunks)

    def _serve(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        body = self._read_body()
        if body is None:
            return
        if path == METRICS_PATH:
            self._reply(200, self.server.api.metrics.page().decode("utf-8"), CONTENT_TYPE)
            return
        if not API_PATH.fullmatch(path):
            self._reply(404, json.dumps({"error": f"no such resource: {path} (the REST API is under /v1/, "
                                                  f"metrics at {METRICS_PATH})"}))
            return
        status, text = self.server.api.handle(self.command, path, body)
        self._reply(status, text)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve


class _HttpServer(http.server.ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once (the next get 503 and are closed)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = False  # a port another server holds is an error, as for gRPC

    def __init__(self, address, api: RestApi, max_body_bytes: int, read_timeout_s: float, max_connections: int):
        self.api, self.max_body_bytes, self.read_timeout_s = api, max_body_bytes, read_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            threading.Thread(target=_turn_away, args=(request,), name="tfrec-rest-busy", daemon=True).start()
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _turn_away(connection: socket.socket) -> None:
    """Answers 503 to a connection over the limit, after taking in (up to 64 KiB of) its request, so the
    client reads the answer instead of a reset; then closes it. Bounded to about a second."""
    body = b'{"error": "too many connections; try again"}'
    try:
        connection.settimeout(1.0)
        connection.recv(1 << 16)
        connection.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                           b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        connection.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    finally:
        connection.close()


class RestServer:
    """The REST API on ``host:port`` (0: a free port), served from a thread until :meth:`stop`."""

    def __init__(self, host: str, port: int, prediction, models, metrics: ServingMetrics,
                 max_body_bytes: int = 16 * 1024 * 1024, read_timeout_s: float = 30.0, max_connections: int = 256):
        self.host, self.port = host, port
        self.api = RestApi(prediction, models, metrics)
        self.max_body_bytes, self.read_timeout_s, self.max_connections = max_body_bytes, read_timeout_s, max_connections
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> int:
        """Binds the port (an OSError when it cannot be) and returns it; serving starts with :meth:`start`."""
        self._http = _HttpServer((self.host, self.port), self.api, self.max_body_bytes, self.read_timeout_s,
                                 self.max_connections)
        self.port = self._http.server_address[1]
        return self.port

    def start(self) -> None:
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="tfrec-rest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops accepting; connections in progress finish on their own threads."""
        if self._http is None:
            return
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(5)
            self._thread = None
        self._http.server_close()
        self._http = None
