"""A development model server speaking TF Serving's gRPC protocol and, optionally, its REST API.

``tfrec serve`` answers ``tensorflow.serving.PredictionService`` (``Predict``,
``GetModelMetadata``, and ``Classify``, ``Regress``, ``MultiInference``
refused as TF Serving refuses them on predict signatures) and
``tensorflow.serving.ModelService`` (``GetModelStatus``,
``HandleReloadConfigRequest``) over the same SavedModels, with the same
request and response messages, as ``tensorflow_model_server``, so the client
and its tests run where TF Serving is not installed. It is for development
and tests, not production: it runs in one Python process and binds 127.0.0.1
unless told otherwise.

    tfrec serve --base saved_models [--model-config-file saved_models/models.config]
                [--port 8500] [--rest-port 8501] [--host 127.0.0.1] [--poll-seconds 2] [--max-message-mb 16]
                [--max-rows 10000] [--tls-cert server.pem --tls-key server.key [--tls-client-ca ca.pem]]
                [--enable-serialization-as-tensor-content] [--allow-version-labels-for-unavailable-models]

With ``--rest-port`` it also answers TF Serving's REST API on that port
(``/v1/models/...`` status, metadata, ``:predict`` in the row and columnar
JSON formats, ``:classify``/``:regress``; plaintext) through the same
servicers, registry, limits and batcher as gRPC, and serves
``/monitoring/prometheus/metrics`` there: TF Serving's request count and
latency metrics, kept for gRPC and REST calls alike; see
:mod:`tfrec.serving.rest_api`, :mod:`tfrec.serving.json_tensors` and
:mod:`tfrec.serving.serving_metrics`. ``start()`` binds both ports and a REST
port in use stops it with one line, as a gRPC one does.

With ``--tls-cert``/``--tls-key`` (PEM files) it speaks TLS only; adding
``--tls-client-ca`` requires every client to present a certificate signed by
that CA (mutual TLS) and refuses the handshake otherwise. A key that does not
match its certificate, or a port another server already holds (SO_REUSEPORT is
off, so two servers never share a port), stops the start with one line. Model paths must lie
inside ``--base`` (or, with only ``--model-config-file``, inside that file's
folder); see :mod:`tfrec.serving.servable_registry`.

What it does as TF Serving does: serves the newest integer version of every
model (or the versions the ``model_version_policy`` of models.config names);
picks up new versions while running and drops old ones once the new one is
loaded and warmed up (in-flight requests finish on the old one); honours
``model_spec.version``, ``version_label`` and ``signature_name``; assigns
version labels only to versions already served (unless
``--allow-version-labels-for-unavailable-models``), so a start-up config with
labels is refused as TF Serving refuses it; replaces its models on
``HandleReloadConfigRequest``; runs the warm-up records; decodes request
tensors with TensorFlow's ``Tensor::FromProto``; fills response tensors'
typed fields (``float_val``, ``string_val``, ...; ``tensor_content`` with
``--enable-serialization-as-tensor-content``, see
:mod:`tfrec.serving.tensor_encoding`); answers unparsable request bytes
INTERNAL (see :mod:`tfrec.serving.undecodable_requests`); and uses TF
Serving's error codes and, where a client may match them, its messages. Where
it is stricter: requests are checked against the signature first
(missing/unknown input, dtype, rank and fixed dimensions, rows, string size,
decoded size) and answered INVALID_ARGUMENT naming the input.
``docs/tf-serving.md`` lists what is left different.

The same files under real TF Serving (gRPC on 8500, REST on 8501), from the
project folder; ``models.config`` must name paths as the server sees them, so
for the container merge it with ``--serving-base /models``:

    python -m tfrec.export.serving_config saved_models --serving-base /models
    docker run --rm -p 8500:8500 -p 8501:8501 \\
        -v "$PWD/saved_models:/models" tensorflow/serving \\
        --model_config_file=/models/models.config \\
        --model_config_file_poll_wait_seconds=60 \\
        --file_system_poll_wait_seconds=2

or, with a ``tensorflow_model_server`` binary on the host:

    tensorflow_model_server --port=8500 --rest_api_port=8501 \\
        --model_config_file="$PWD/saved_models/models.config"

Server-side batching adds ``--enable_batching
--batching_parameters_file=/models/batching_parameters.txt`` (one set of limits
for every model), or ``--enable_batching --enable_per_model_batching_parameters``
(each version's own ``batching_params.pbtxt``, written by the exports). TF
Serving batches by concatenating requests along dimension 0 and refuses rank-0
inputs, so no exported signature has one. ``tfrec serve --enable-batching
[--batching-parameters-file F]`` batches the same way, from the same file; see
:mod:`tfrec.serving.request_batcher`. TensorFlow errors raised by a model keep
their status code; a failed check in the graph answers with its own message,
without the graph dump.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import errno
import logging
import signal
import socket
import ssl
import threading

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_management_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)

from tfrec.serving import example_methods
from tfrec.serving.errors import ServerSettingsError, ServingError, model_error_message
from tfrec.serving.request_batcher import RequestBatcher, batching_from_args
from tfrec.serving.request_validation import RequestLimits
from tfrec.serving.rest_api import RestServer
from tfrec.serving.servable_registry import ServableRegistry
from tfrec.serving.serving_metrics import ServingMetrics
from tfrec.serving.tensor_encoding import encode_tensor
from tfrec.serving.undecodable_requests import UndecodableRequests

log = logging.getLogger("tfrec.serving")

_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}
_TF_ERROR_CODE_OK = 0


def _answer(context, call):
    """Runs ``call``; turns every failure into a status on ``context`` instead of a crash."""
    try:
        return call()
    except ServingError as e:
        code, message = e.code, e.message
    except tf.errors.OpError as e:  # raised by the model: keep TensorFlow's code, drop the graph dump
        code, message = _GRPC_CODES.get(e.error_code, grpc.StatusCode.INTERNAL), model_error_message(e.message)
    except Exception as e:  # noqa: BLE001 - a bug must not take the server down
        log.exception("internal error while answering a request")
        code, message = grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}"
    context.abort(code, message)


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` and ``GetModelMetadata`` over the registry's servables; ``Classify``, ``Regress`` and
    ``MultiInference`` checked as TF Serving checks them (see :mod:`tfrec.serving.example_methods`)."""

    def __init__(self, registry: ServableRegistry, batcher: RequestBatcher | None = None,
                 tensor_content: bool = False):
        self.registry = registry
        self.batcher = batcher  # server-side request batching (--enable-batching), or None
        self.tensor_content = tensor_content  # --enable-serialization-as-tensor-content

    def Predict(self, request, context):
        def run():
            servable = self.registry.resolve(request.model_spec)
            signature_name, outputs = servable.predict(request.inputs, request.model_spec.signature_name,
                                                       request.output_filter, batcher=self.batcher)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature_name
            for alias, value in outputs.items():
                response.outputs[alias].CopyFrom(encode_tensor(value, as_content=self.tensor_content))
            return response
        return _answer(context, run)

    def Classify(self, request, context):
        return _answer(context, lambda: example_methods.classify(self.registry, request))

    def Regress(self, request, context):
        return _answer(context, lambda: example_methods.regress(self.registry, request))

    def MultiInference(self, request, context):
        return _answer(context, lambda: example_methods.multi_inference(self.registry, request))

    def GetModelMetadata(self, request, context):
        def run():
            if not request.HasField("model_spec"):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
            if not request.metadata_field:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   "GetModelMetadataRequest must specify at least one metadata_field")
            for field in request.metadata_field:
                if field != "signature_def":
                    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
            servable = self.registry.resolve(request.model_spec)
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, signature_def in servable.signature_defs.items():
                signatures.signature_def[key].CopyFrom(signature_def)
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.metadata["signature_def"].Pack(signatures)
            return response
        return _answer(context, run)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """``GetModelStatus`` and ``HandleReloadConfigRequest``."""

    def __init__(self, registry: ServableRegistry):
        self.registry = registry

    def GetModelStatus(self, request, context):
        def run():
            if not request.HasField("model_spec"):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            response = get_model_status_pb2.GetModelStatusResponse()
            for number, status in self.registry.status(spec.name, version):
                entry = response.model_version_status.add(version=number, state=status.state)
                if status.error:
                    entry.status.error_code = grpc.StatusCode.INTERNAL.value[0]  # same numbers as tensorflow.error
                    entry.status.error_message = status.error
                else:
                    entry.status.error_code = _TF_ERROR_CODE_OK
            return response
        return _answer(context, run)

    def HandleReloadConfigRequest(self, request, context):
        """Serves the models of ``request.config`` instead (TF Serving's answer: OK with an OK status,
        or the failure's status code); a refused config changes nothing."""
        def run():
            if request.config.WhichOneof("config") != "model_config_list":
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                                   "Only ModelConfigList is currently supported")
            try:
                self.registry.reload_config(request.config)
            except ServingError as e:
                log.error("ReloadConfig failed: %s", e.message)
                raise
            log.info("reloaded the model config: %s", ", ".join(c.name for c in request.config.model_config_list.config))
            response = model_management_pb2.ReloadConfigResponse()
            response.status.error_code = _TF_ERROR_CODE_OK
            for name in request.metric_names:  # TF Serving's metric increases; tfrec serve keeps none
                response.metric.add(name=name, int64_value_increase=0)
            return response
        return _answer(context, run)


def _read_pem(path: str, what: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if b"-----BEGIN " not in data:
        raise ServerSettingsError(f"{what} {path} is not a PEM file")
    return data


def _check_key_matches_certificate(cert: str, key: str) -> None:
    """Loads the pair with the standard library, so a mismatch is named instead of gRPC's "Failed to bind"."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # A password callback that gives none: an encrypted key fails here instead of prompting.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as e:
        if "KEY_VALUES_MISMATCH" in str(e) or "key values mismatch" in str(e).lower():
            raise ServerSettingsError(f"TLS key {key} does not match the certificate {cert}") from e
        raise ServerSettingsError(f"TLS certificate {cert} and key {key} could not be loaded: "
                                  f"{e.reason or e}") from e


def _port_problem(host: str, port: int) -> str:
    """Why ``host:port`` cannot be bound, found by binding it with a plain socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is already in use"
        return f"cannot bind {host}:{port}: {e.strerror or e}"
    return f"cannot bind {host}:{port}"


def server_credentials(cert: str | None, key: str | None, client_ca: str | None):
    """TLS credentials from PEM files, or None for plaintext; ``client_ca`` turns on mutual TLS."""
    if cert is None and key is None:
        if client_ca is not None:
            raise ServerSettingsError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise ServerSettingsError("TLS needs both --tls-cert and --tls-key")
    pair = (_read_pem(key, "TLS key"), _read_pem(cert, "TLS certificate"))
    _check_key_matches_certificate(cert, key)
    ca = _read_pem(client_ca, "client CA") if client_ca is not None else None
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


class ModelServer:
    """The gRPC server, its registry and its poller; ``start()`` returns the bound port."""

    def __init__(self, base: str | None = None, model_config_file: str | None = None, host: str = "127.0.0.1",
                 port: int = 8500, poll_seconds: float = 2.0, max_message_mb: int = 16, max_workers: int = 8,
                 max_concurrent_rpcs: int = 256, max_string_mb: float = 4.0, tls_cert: str | None = None,
                 tls_key: str | None = None, tls_client_ca: str | None = None, batching=None,
                 max_rows: int = 10_000, rest_port: int | None = None, rest_read_timeout_s: float = 30.0,
                 tensor_content: bool = False, allow_version_labels_for_unavailable_models: bool = False):
        if not 1 <= max_message_mb <= 1024:
            raise ServerSettingsError(f"max_message_mb must be between 1 and 1024, got {max_message_mb}")
        if max_workers < 1 or max_concurrent_rpcs < 1:
            raise ServerSettingsError("max_workers and max_concurrent_rpcs must be at least 1")
        self.host, self.port, self.poll_seconds = host, port, poll_seconds
        if max_string_mb <= 0:
            raise ServerSettingsError(f"max_string_mb must be positive, got {max_string_mb}")
        if max_rows < 1:
            raise ServerSettingsError(f"max_rows must be at least 1, got {max_rows}")
        limit = max_message_mb * 1024 * 1024
        self.limits = RequestLimits(max_string_bytes=min(int(max_string_mb * 1024 * 1024), limit),
                                    max_rows=max_rows, max_tensor_bytes=max(64 * 1024 * 1024, 4 * limit))
        self.credentials = server_credentials(tls_cert, tls_key, tls_client_ca)
        self.registry = ServableRegistry(base, model_config_file, self.limits,
                                         allow_version_labels_for_unavailable_models)
        self.metrics = ServingMetrics()  # TF Serving's request count and latency, gRPC and REST alike
        self._server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tfrec-grpc"),
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit),
                     # Without this, a second server on the same port binds too and the kernel splits the calls.
                     ("grpc.so_reuseport", 0)],
            # Unparsable bytes are refused before the metrics (which read the request) see them.
            maximum_concurrent_rpcs=max_concurrent_rpcs,
            interceptors=[UndecodableRequests(), self.metrics.grpc_interceptor()])
        # Request batching (tfrec.serving.request_batcher): ``batching`` is a BatchingSettings, or None for off.
        self.batcher = RequestBatcher(batching) if batching is not None else None
        prediction = PredictionServicer(self.registry, self.batcher, tensor_content)
        models = ModelServicer(self.registry)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(prediction, self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(models, self._server)
        # TF Serving's REST API over the same servicers (tfrec.serving.rest_api), or None without a REST port.
        self.rest = None if rest_port is None else RestServer(
            host, rest_port, prediction, models, self.metrics, max_body_bytes=limit,
            read_timeout_s=rest_read_timeout_s, max_connections=max_concurrent_rpcs)
        self._started = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> int:
        """Loads the models, binds (port 0: a free port), starts serving and polling."""
        self.registry.poll()
        if not self.registry.served():
            log.warning("no model version could be loaded yet; serving NOT_FOUND until one appears")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        try:
            if self.credentials is not None:
                port = self._server.add_secure_port(f"{host}:{self.port}", self.credentials)
            else:
                port = self._server.add_insecure_port(f"{host}:{self.port}")
        except RuntimeError:  # grpc's "Failed to bind to address": say why
            port = 0
        if port == 0:
            raise ServerSettingsError(_port_problem(self.host, self.port))
        if self.rest is not None:
            try:
                self.rest.bind()
            except OSError:
                self._server.stop(0)
                raise ServerSettingsError("REST API: " + _port_problem(self.host, self.rest.port)) from None
        self.port = port
        self._server.start()
        if self.rest is not None:
            self.rest.start()
        self._started = True
        self.registry.start_polling(self.poll_seconds)
        return port

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Refuses new calls, lets running ones finish for up to ``grace_seconds``, stops polling."""
        self.registry.stop_polling()
        if self.rest is not None:
            self.rest.stop()
        if self._started:
            self._server.stop(grace_seconds).wait(grace_seconds + 1)
            self._started = False
        if self.batcher is not None:
            self.batcher.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(args: argparse.Namespace) -> int:
    """``tfrec serve``: runs until SIGTERM or SIGINT, then shuts down within the grace period."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = args.base if args.base is not None or args.model_config_file else "saved_models"
    server = ModelServer(base=base, model_config_file=args.model_config_file, host=args.host,
                         port=args.port, poll_seconds=args.poll_seconds, max_message_mb=args.max_message_mb,
                         max_workers=args.max_workers, max_string_mb=args.max_string_mb,
                         tls_cert=getattr(args, "tls_cert", None), tls_key=getattr(args, "tls_key", None),
                         tls_client_ca=getattr(args, "tls_client_ca", None), batching=batching_from_args(args),
                         max_rows=getattr(args, "max_rows", 10_000), rest_port=getattr(args, "rest_port", None),
                         tensor_content=getattr(args, "enable_serialization_as_tensor_content", False),
                         allow_version_labels_for_unavailable_models=getattr(
                             args, "allow_version_labels_for_unavailable_models", False))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    port = server.start()
    served = ", ".join(f"{name} v{versions[-1]}" for name, versions in server.registry.served().items()) or "none yet"
    security = ("mutual TLS" if getattr(args, "tls_client_ca", None) else "TLS") if server.credentials else "plaintext"
    print(f"tfrec model server listening on {args.host}:{port} ({security}; models: {served})", flush=True)
    if server.rest is not None:
        print(f"tfrec REST API listening on http://{args.host}:{server.rest.port} (plaintext; metrics at "
              f"/monitoring/prometheus/metrics)", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1") and server.credentials is None:
        log.warning("listening on %s without TLS or authentication", args.host)
    if args.host not in ("127.0.0.1", "localhost", "::1") and server.rest is not None:
        log.warning("the REST API on %s:%d has no TLS or authentication", args.host, server.rest.port)
    while not stop.wait(1.0):
        pass
    log.info("shutting down (grace %.0fs)", args.grace_seconds)
    server.stop(args.grace_seconds)
    print("tfrec model server stopped", flush=True)
    return 0
