"""gRPC cases: ``tensorflow.serving.PredictionService`` and ``ModelService`` as TF Serving answers them."""

from __future__ import annotations

import grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.conformance.case import Answer, Case, Target


def call(target: Target, method: str, request) -> Answer:
    """Sends ``request`` to ``PredictionService/<method>``; the status code name and its message."""
    with grpc.insecure_channel(target.grpc) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            getattr(stub, method)(request, timeout=30)
        except grpc.RpcError as e:
            return Answer(e.code().name, e.details() or "")
    return Answer("OK")


def _unknown_model(target: Target) -> Answer:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "no_such_model"
    return call(target, "Predict", request)


CASES = [
    Case("Predict for a model that is not served", "gRPC", "NOT_FOUND",
         "NOT_FOUND: Servable not found for request: Latest(no_such_model)", _unknown_model,
         detail_contains="no_such_model"),
]
