"""gRPC cases: ``tensorflow.serving.PredictionService`` and ``ModelService`` as TF Serving answers them.

Each expected answer is read from TF Serving's sources (``server_core.cc``,
``basic_manager.cc``, ``predict_util.cc``, ``classifier.cc``, ``regressor.cc``,
``multi_inference.cc``, ``get_model_metadata_impl.cc``,
``get_model_status_impl.cc``, ``model_service_impl.cc``) and from gRPC C++
(``proto_utils.h``: bytes that do not parse are INTERNAL). The target serves
the tiny retrieval export: ``serving_default`` takes ``user_id`` (string [B])
and returns ``item_ids`` and ``scores`` [B, K].
"""

from __future__ import annotations

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     inference_pb2, model_management_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from tests.serving.conformance.case import Answer, Case, Target

USERS = [b"u1", b"u2"]


def _stub(channel, method: str):
    if method in ("GetModelStatus", "HandleReloadConfigRequest"):
        return getattr(model_service_pb2_grpc.ModelServiceStub(channel), method)
    return getattr(prediction_service_pb2_grpc.PredictionServiceStub(channel), method)


def call(target: Target, method: str, request, check=None) -> Answer:
    """Sends ``request`` to ``method``; the status code name and its message, or what ``check``
    says of a successful response (``check(response) -> str``, put in the answer's detail)."""
    with grpc.insecure_channel(target.grpc) as channel:
        try:
            response = _stub(channel, method)(request, timeout=30)
        except grpc.RpcError as e:
            return Answer(e.code().name, e.details() or "")
    return Answer("OK", check(response) if check else "")


def raw_call(target: Target, method: str, payload: bytes) -> Answer:
    """Sends ``payload`` as the request bytes of ``PredictionService/<method>``, unparsed."""
    with grpc.insecure_channel(target.grpc) as channel:
        send = channel.unary_unary(f"/tensorflow.serving.PredictionService/{method}",
                                   request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            send(payload, timeout=30)
        except grpc.RpcError as e:
            return Answer(e.code().name, e.details() or "")
    return Answer("OK")


def predict_request(target: Target, inputs=None, **spec) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.pop("name", target.model)
    if "version" in spec:
        request.model_spec.version.value = spec.pop("version")
    for field, value in spec.items():
        setattr(request.model_spec, field, value)
    for name, tensor in (inputs if inputs is not None else
                         {"user_id": tf.make_tensor_proto(USERS, dtype=tf.string)}).items():
        request.inputs[name].CopyFrom(tensor)
    return request


def _predict(inputs=None, check=None, **spec):
    return lambda target: call(target, "Predict", predict_request(target, inputs, **spec), check)


def _strings(values, shape) -> tensor_pb2.TensorProto:
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=values, tensor_shape=(
        tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape])))


def _typed_fields(response) -> str:
    """What a client reading the typed fields gets: the counts of scores.float_val and item_ids.string_val."""
    scores, items = response.outputs["scores"], response.outputs["item_ids"]
    rows, k = (d.size for d in scores.tensor_shape.dim)
    filled = len(scores.float_val) == rows * k and len(items.string_val) == rows * k and not scores.tensor_content
    return f"typed fields {'filled' if filled else 'empty'}: {len(scores.float_val)} float_val, " \
           f"{len(items.string_val)} string_val for [{rows}, {k}]"


def _rows(response) -> str:
    shapes = {name: [d.size for d in t.tensor_shape.dim] for name, t in sorted(response.outputs.items())}
    return f"output shapes {shapes}"


def _padded(response) -> str:
    """A [3]-row request carrying 2 users: TensorFlow repeats the last one, so rows 2 and 3 agree."""
    items = np.array(response.outputs["item_ids"].string_val).reshape(3, -1)
    return "last row repeated" if (items[1] == items[2]).all() else "rows differ"


def _metadata(target: Target) -> Answer:
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = target.model

    def check(response):
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        inputs = dict(signatures.signature_def["serving_default"].inputs)
        return f"version {response.model_spec.version.value}; serving_default takes {sorted(inputs)}"
    return call(target, "GetModelMetadata", request, check)


def _metadata_field(field: str):
    def run(target: Target) -> Answer:
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[field] if field else [])
        request.model_spec.name = target.model
        return call(target, "GetModelMetadata", request)
    return run


def _status(name: str | None = None, version: int | None = None):
    def run(target: Target) -> Answer:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name if name is not None else target.model
        if version is not None:
            request.model_spec.version.value = version

        def check(response):
            states = get_model_status_pb2.ModelVersionStatus.State.Name
            return ", ".join(f"{s.version} {states(s.state)} ({s.status.error_code})"
                             for s in response.model_version_status)
        return call(target, "GetModelStatus", request, check)
    return run


def _classify(target: Target) -> Answer:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = target.model
    request.input.example_list.examples.add()
    return call(target, "Classify", request)


def _classify_without_spec(target: Target) -> Answer:
    return call(target, "Classify", classification_pb2.ClassificationRequest())


def _regress(target: Target) -> Answer:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = target.model
    request.input.example_list.examples.add()
    return call(target, "Regress", request)


def _multi_inference(target: Target) -> Answer:
    request = inference_pb2.MultiInferenceRequest()
    task = request.tasks.add(method_name="tensorflow/serving/classify")
    task.model_spec.name = target.model
    request.input.example_list.examples.add()
    return call(target, "MultiInference", request)


def _current_config(target: Target) -> model_management_pb2.ReloadConfigRequest:
    """The config a reload keeps the target serving: its model at the base path it has now."""
    if target.base_path is None:
        raise ValueError("the reload cases need the model's base_path as the server sees it (--base-path)")
    request = model_management_pb2.ReloadConfigRequest()
    entry = request.config.model_config_list.config.add(name=target.model, model_platform="tensorflow")
    entry.base_path = target.base_path
    return request


def _reload_same(target: Target) -> Answer:
    return call(target, "HandleReloadConfigRequest", _current_config(target),
                lambda response: f"status error_code {response.status.error_code}")


def _reload_refused(change):
    def run(target: Target) -> Answer:
        request = _current_config(target)
        change(request.config.model_config_list.config[0], request.config)
        answer = call(target, "HandleReloadConfigRequest", request)
        after = call(target, "Predict", predict_request(target))  # the old config still serves
        return Answer(answer.status, f"{answer.detail} / Predict afterwards: {after.status}")
    return run


def _duplicate(entry, config):
    config.model_config_list.config.add().CopyFrom(entry)


def _label_unserved(entry, config):
    entry.version_labels["stable"] = 99


def _relative(entry, config):
    entry.base_path = "relative/retrieval"


def _custom_config(target: Target) -> Answer:
    request = model_management_pb2.ReloadConfigRequest()
    request.config.custom_model_config.type_url = "type.googleapis.com/example"
    return call(target, "HandleReloadConfigRequest", request)


CASES = [
    Case("Predict for a model that is not served", "gRPC", "NOT_FOUND",
         "NOT_FOUND: Servable not found for request: Latest(no_such_model)", _predict(name="no_such_model"),
         detail_contains="Servable not found for request: Latest(no_such_model)"),
    Case("Predict for a version that is not served", "gRPC", "NOT_FOUND",
         "NOT_FOUND: Servable not found for request: Specific(retrieval, 99)", _predict(version=99),
         detail_contains="Servable not found for request: Specific(retrieval, 99)"),
    Case("Predict for an unknown version label", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: Unrecognized servable version label: no_such_label",
         _predict(version_label="no_such_label"), detail_contains="Unrecognized servable version label: no_such_label"),
    Case("Predict with an empty model name", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: ModelSpec has no name specified.", _predict(name=""),
         detail_contains="ModelSpec has no name specified."),
    Case("Predict for an unknown signature", "gRPC", "FAILED_PRECONDITION",
         'FAILED_PRECONDITION: Serving signature key "nope" not found.', _predict(signature_name="nope"),
         detail_contains='Serving signature key "nope" not found'),
    Case("Predict without its input", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: input size does not match signature ... Missing but required: {user_id}.",
         _predict(inputs={}), detail_contains="user_id"),
    Case("Predict with an input the signature lacks", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: input size does not match signature ... Sent extra: {history}.",
         _predict(inputs={"user_id": tf.make_tensor_proto(USERS), "history": tf.make_tensor_proto([[b"i1"]] * 2)}),
         detail_contains="history"),
    Case("Predict with the wrong dtype (int64 user_id)", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: the session refuses an int64 where a string is expected",
         _predict(inputs={"user_id": tf.make_tensor_proto([1, 2], dtype=tf.int64)})),
    Case("Predict with string tensor_content that does not decode", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: tensor parsing error: user_id",
         _predict(inputs={"user_id": tensor_pb2.TensorProto(  # one string of 5 bytes announced, 2 carried
             dtype=types_pb2.DT_STRING, tensor_content=b"\x05ab",
             tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]))}),
         detail_contains="tensor parsing error: user_id"),
    Case("Predict declaring 3 rows and carrying 2 values", "gRPC", "OK",
         "OK: Tensor::FromProto repeats the last value", _predict(
             inputs={"user_id": _strings(USERS, [3])}, check=_padded), detail_contains="last row repeated"),
    Case("Predict for an empty batch", "gRPC", "OK", "OK: [0, K] outputs",
         _predict(inputs={"user_id": tf.make_tensor_proto([], dtype=tf.string)}, check=_rows),
         detail_contains="'scores': [0, "),
    Case("Predict response tensors", "gRPC", "OK",
         "OK: typed fields (AsProtoField) unless --enable_serialization_as_tensor_content",
         _predict(check=_typed_fields), detail_contains="typed fields filled"),
    Case("Predict with an unknown output_filter alias", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: output tensor alias not found in signature: nope ...",
         lambda target: call(target, "Predict", _with_filter(predict_request(target), ["nope"])),
         detail_contains="nope"),
    Case("Predict with undecodable request bytes", "gRPC", "INTERNAL",
         "INTERNAL (gRPC C++ GenericDeserialize: the bytes do not parse)",
         lambda target: raw_call(target, "Predict", b"\xff\xff\xff\xff\x0f")),
    Case("Classify with undecodable request bytes", "gRPC", "INTERNAL", "INTERNAL (gRPC C++ GenericDeserialize)",
         lambda target: raw_call(target, "Classify", b"\x0a\xff\xff")),
    Case("GetModelMetadata signature_def", "gRPC", "OK", "OK: the SignatureDefMap of the newest version",
         _metadata, detail_contains="serving_default takes ['user_id']"),
    Case("GetModelMetadata without metadata_field", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: GetModelMetadataRequest must specify at least one metadata_field", _metadata_field(""),
         detail_contains="GetModelMetadataRequest must specify at least one metadata_field"),
    Case("GetModelMetadata for an unsupported field", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: Metadata field graph is not supported", _metadata_field("graph"),
         detail_contains="Metadata field graph is not supported"),
    Case("GetModelStatus of the served model", "gRPC", "OK", "OK: 1 AVAILABLE (error_code 0)", _status(),
         detail_contains="AVAILABLE (0)"),
    Case("GetModelStatus of an unknown model", "gRPC", "NOT_FOUND",
         "NOT_FOUND: Could not find any versions of model no_such_model", _status("no_such_model"),
         detail_contains="Could not find any versions of model no_such_model"),
    Case("GetModelStatus of an unknown version", "gRPC", "NOT_FOUND",
         "NOT_FOUND: Could not find version 99 of model retrieval", _status(version=99),
         detail_contains="Could not find version 99 of model retrieval"),
    Case("Classify on a predict signature", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: No classification inputs found in SignatureDef: ...", _classify,
         detail_contains="No classification inputs found in SignatureDef"),
    Case("Classify without a model_spec", "gRPC", "INVALID_ARGUMENT", "INVALID_ARGUMENT: Missing ModelSpec",
         _classify_without_spec, detail_contains="Missing ModelSpec"),
    Case("Regress on a predict signature (two outputs)", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: Expected one output Tensor.", _regress, detail_contains="Expected one output Tensor."),
    Case("MultiInference classify task on a predict signature", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: No classification inputs found in SignatureDef: ...", _multi_inference,
         detail_contains="No classification inputs found in SignatureDef"),
    Case("HandleReloadConfigRequest with the served config", "gRPC", "OK", "OK, status error_code 0",
         _reload_same, detail_contains="status error_code 0"),
    Case("HandleReloadConfigRequest labelling a version that is not served", "gRPC", "FAILED_PRECONDITION",
         "FAILED_PRECONDITION: Request to assign label to version 99 of model retrieval, which is not currently "
         "available for inference", _reload_refused(_label_unserved),
         detail_contains="Request to assign label to version 99 of model retrieval, which is not currently "
                         "available for inference / Predict afterwards: OK"),
    Case("HandleReloadConfigRequest listing a model twice", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: Illegal to list model retrieval multiple times in config list",
         _reload_refused(_duplicate), detail_contains="Illegal to list model retrieval multiple times in config list"),
    Case("HandleReloadConfigRequest with a relative base_path", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: Expected model retrieval to have an absolute path or URI; got base_path()=...",
         _reload_refused(_relative), detail_contains="Expected model retrieval to have an absolute path or URI"),
    Case("HandleReloadConfigRequest with a custom_model_config", "gRPC", "INVALID_ARGUMENT",
         "INVALID_ARGUMENT: ServerModelConfig type not supported by HandleReloadConfigRequest. Only "
         "ModelConfigList is currently supported", _custom_config,
         detail_contains="ServerModelConfig type not supported by HandleReloadConfigRequest"),
]


def _with_filter(request, aliases):
    request.output_filter.extend(aliases)
    return request
