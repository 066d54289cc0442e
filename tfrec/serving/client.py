"""gRPC client of TF Serving (or of ``tfrec serve``) for the exported models.

    with ServingClient("127.0.0.1:8500") as client:
        client.recommend(["u1", "u2"], k=10)   # [[(item_id, score), ...], ...]
        client.model_status("retrieval")       # [ModelVersion(version=1, state='AVAILABLE', error='')]
        client.metadata("retrieval")           # {'version': 1, 'signatures': {'serving_default': {...}}}

Every call has a deadline (``timeout_s``). Only UNAVAILABLE (server not up
yet, restarting, connection dropped) is retried, with exponential backoff,
``retries`` times; every other status is final and raised as a
:class:`~tfrec.serving.errors.ServingError` carrying the server's code and
message. Recommend and the status calls are read-only, so a retry never
repeats a side effect. The wait between tries doubles from ``backoff_s``
up to ``max_backoff_s``, so a client can ride out a server restart of
several seconds with enough ``retries``.

TLS: ``root_certificates`` (the CA that signed the server's certificate)
selects an encrypted channel; ``client_cert`` and ``client_key`` add the
client's own certificate for a server that requires mutual TLS. Each is PEM
bytes or the path of a PEM file.
"""

from __future__ import annotations

import dataclasses
import random
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2, model_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)

from tfrec.data.history import padded
from tfrec.errors import ConfigError
from tfrec.serving.errors import ServingError
from tfrec.serving.tensor_encoding import decode_tensor
from tfrec.serving.top_k import first_k_of

_STATE_NAMES = get_model_status_pb2.ModelVersionStatus.State.Name


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    version: int
    state: str   # START, LOADING, AVAILABLE, UNLOADING, END
    error: str   # empty when the version loaded (or is loading) without error


class ServingClient:
    """Talks to one server at ``target`` (``HOST:PORT``), in plaintext or, given certificates, over TLS."""

    def __init__(self, target: str, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.1,
                 max_message_mb: int = 16, max_backoff_s: float = 2.0, root_certificates=None,
                 client_cert=None, client_key=None):
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise ConfigError("timeout_s must be positive, retries, backoff_s and max_backoff_s not negative")
        if (client_cert is None) != (client_key is None):
            raise ConfigError("--tls-cert and --tls-key go together (client_cert and client_key)")
        if client_cert is not None and root_certificates is None:
            raise ConfigError("a client certificate needs --tls-ca (root_certificates, the server's CA) too")
        self.target, self.timeout_s, self.retries, self.backoff_s = target, timeout_s, retries, backoff_s
        self.max_backoff_s = max_backoff_s
        limit = max_message_mb * 1024 * 1024
        options = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_pem(root_certificates),
                private_key=_pem(client_key) if client_key is not None else None,
                certificate_chain=_pem(client_cert) if client_cert is not None else None)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._predict = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- transport ----------------------------------------------------------------------------
    def call(self, method, request):
        """``method(request)`` with a deadline, retrying UNAVAILABLE with exponential backoff."""
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=self.timeout_s)
            except grpc.RpcError as e:
                code = e.code() if callable(getattr(e, "code", None)) else grpc.StatusCode.UNKNOWN
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self.retries:
                    delay = min(self.backoff_s * (2 ** attempt), self.max_backoff_s)
                    time.sleep(delay * (0.5 + random.random()))  # jitter: clients do not retry in lockstep
                    continue
                details = e.details() if callable(getattr(e, "details", None)) else str(e)
                raise ServingError(code, f"{details} (server {self.target})") from None
        raise AssertionError("unreachable")

    # -- calls --------------------------------------------------------------------------------
    def predict(self, model: str, inputs: dict, signature_name: str = "serving_default",
                version: int | None = None) -> tuple[dict[str, np.ndarray], int]:
        """Runs a signature on ``inputs`` (name → ``TensorProto`` or array); returns outputs and the version."""
        request = predict_pb2.PredictRequest(model_spec=_spec(model, version, signature_name))
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(value if isinstance(value, type(request.inputs[name]))
                                          else tf.make_tensor_proto(value))
        response = self.call(self._predict.Predict, request)
        outputs = {name: decode_tensor(tensor) for name, tensor in response.outputs.items()}
        return outputs, response.model_spec.version.value

    def recommend(self, user_ids, k: int, model: str = "retrieval", version: int | None = None,
                  histories=None) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(item_id, score)`` for each user id, best first (fewer when the user has seen almost
        every item: the seen ones score -inf and are left out). ``histories`` (each user's latest items,
        newest last) asks the ``with_history`` signature.

        The model returns its top ``max_k`` per user; the first ``k`` are kept, and ``k`` above
        ``max_k`` is INVALID_ARGUMENT (:func:`tfrec.serving.top_k.first_k_of`).
        """
        outputs, _ = self.retrieve(user_ids, k, model, version, histories)
        return [[(item.decode("utf-8", "replace"), float(score)) for item, score in zip(items, row)
                 if score > float("-inf")]
                for items, row in zip(outputs["item_ids"], outputs["scores"])]

    def retrieve(self, user_ids, k: int, model: str = "retrieval", version: int | None = None,
                 histories=None) -> tuple[dict[str, np.ndarray], int]:
        """The retrieval signature's outputs (``item_ids``, ``scores``, and ``because``/``because_score``
        for models with a history) and the version that answered."""
        user_ids = [str(u) for u in user_ids]
        inputs = {"user_id": tf.make_tensor_proto(user_ids, dtype=tf.string, shape=[len(user_ids)])}
        signature = "serving_default"
        if histories is not None:
            inputs["history"], signature = tf.make_tensor_proto(padded(histories), dtype=tf.string), "with_history"
        outputs, answered = self.predict(model, inputs, signature_name=signature, version=version)
        return first_k_of(outputs, k), answered

    def model_status(self, model: str, version: int | None = None) -> list[ModelVersion]:
        """The load state of every version of ``model`` the server knows (or of ``version``)."""
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=_spec(model, version))
        response = self.call(self._models.GetModelStatus, request)
        return [ModelVersion(s.version, _STATE_NAMES(s.state), s.status.error_message)
                for s in response.model_version_status]

    def metadata(self, model: str, version: int | None = None) -> dict:
        """``{"version": v, "signatures": {name: {"inputs"|"outputs": {tensor: (dtype, shape)}}}}``.

        Shapes use -1 for a dimension of any size.
        """
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=_spec(model, version),
                                                                 metadata_field=["signature_def"])
        response = self.call(self._predict.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)

        def describe(infos):
            return {name: (types_pb2.DataType.Name(info.dtype), [d.size for d in info.tensor_shape.dim])
                    for name, info in sorted(infos.items())}

        return {"version": response.model_spec.version.value,
                "signatures": {key: {"inputs": describe(sig.inputs), "outputs": describe(sig.outputs)}
                               for key, sig in sorted(signatures.signature_def.items())}}

    def wait_until_available(self, model: str, timeout_s: float = 60.0) -> int:
        """Polls ``model_status`` until a version is AVAILABLE; returns the newest available version."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            try:
                available = [s.version for s in self.model_status(model) if s.state == "AVAILABLE"]
                if available:
                    return max(available)
            except ServingError as e:
                last = e
            time.sleep(0.1)
        raise TimeoutError(f"{model} not AVAILABLE at {self.target} within {timeout_s:.0f}s"
                           + (f" (last error: {last})" if last else ""))


def _pem(value) -> bytes:
    """PEM bytes as given, or read from the file a path names."""
    if isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


def _spec(model: str, version: int | None, signature_name: str = "") -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=model, signature_name=signature_name)
    if version is not None:
        spec.version.value = int(version)
    return spec
