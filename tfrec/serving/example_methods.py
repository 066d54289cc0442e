"""``Classify``, ``Regress`` and ``MultiInference``: TF Serving's checks, in its order, with its messages.

These methods take ``tf.Example`` protos and need a signature in TF Serving's
classification or regression form (one string input ``inputs``; outputs
``classes``/``scores``, or one ``outputs``). tfrec's exports have predict
signatures only, so TF Serving (started, as by default, without
``--enable_signature_method_name_check``) refuses them here with
INVALID_ARGUMENT, naming what the signature lacks; the checks and messages
below follow its ``classifier.cc``, ``regressor.cc`` and
``multi_inference.cc``. A signature that passes them is one ``tfrec serve``
does not run (UNIMPLEMENTED): use ``tensorflow_model_server`` for such models.
"""

from __future__ import annotations

import grpc
from google.protobuf import text_format
from tensorflow_serving.apis import model_pb2

from tfrec.serving.errors import ServingError
from tfrec.serving.servable import DEFAULT_SIGNATURE

CLASSIFY_METHOD, REGRESS_METHOD = "tensorflow/serving/classify", "tensorflow/serving/regress"


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _debug_string(signature) -> str:
    return text_format.MessageToString(signature)


def check_classification(signature) -> None:
    """``PreProcessClassification``: one input ``inputs``, one or two outputs ``classes``/``scores``."""
    if len(signature.inputs) != 1:
        raise _invalid("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise _invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if "inputs" not in signature.inputs:
        raise _invalid(f"No classification inputs found in SignatureDef: {_debug_string(signature)}")
    if "classes" not in signature.outputs and "scores" not in signature.outputs:
        raise _invalid('Expected classification signature outputs to contain at least one of "classes" or '
                       f'"scores". Signature was: {_debug_string(signature)}')


def check_regression(signature) -> None:
    """``PreProcessRegression``: one input ``inputs``, one output ``outputs``."""
    if len(signature.inputs) != 1:
        raise _invalid("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise _invalid("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise _invalid(f"No regression inputs found in SignatureDef: {_debug_string(signature)}")
    if "outputs" not in signature.outputs:
        raise _invalid(f"No regression outputs found in SignatureDef: {_debug_string(signature)}")


def _signature(servable, signature_name: str):
    key = signature_name or DEFAULT_SIGNATURE
    if key not in servable.signature_defs:
        raise _invalid(f"No signature was found with the name: {key}")
    return servable.signature_defs[key]


def _not_run(method: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNIMPLEMENTED,
                        f"tfrec serve does not run {method} signatures (tf.Example inputs); "
                        "serve this model with tensorflow_model_server")


_CHECKS = {"classify": (check_classification, "classification"), "regress": (check_regression, "regression")}


def answer_on(servable, signature_name: str, api: str):
    """Classify (``api`` "classify") or Regress ("regress") on a resolved servable: TF Serving's checks of the
    signature, then UNIMPLEMENTED for one that passes. Used by gRPC and REST alike."""
    check, what = _CHECKS[api]
    check(_signature(servable, signature_name))
    raise _not_run(what)


def classify(registry, request):
    """Answers a ``ClassificationRequest`` as TF Serving would, up to running the signature."""
    if not request.HasField("model_spec"):
        raise _invalid("Missing ModelSpec")
    answer_on(registry.resolve(request.model_spec), request.model_spec.signature_name, "classify")


def regress(registry, request):
    """Answers a ``RegressionRequest`` as TF Serving would, up to running the signature."""
    if not request.HasField("model_spec"):
        raise _invalid("Missing ModelSpec")
    answer_on(registry.resolve(request.model_spec), request.model_spec.signature_name, "regress")


def multi_inference(registry, request):
    """Answers a ``MultiInferenceRequest`` as TF Serving would, up to running the signatures."""
    spec = request.tasks[0].model_spec if request.tasks and request.tasks[0].HasField("model_spec") \
        else model_pb2.ModelSpec()
    servable = registry.resolve(spec)
    model, seen = "", set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise _invalid("Found ModelSpec with an empty model name.")
        if model and task.model_spec.name != model:
            raise _invalid("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        model = task.model_spec.name
        key = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if key in seen:
            raise _invalid(f"Duplicate evaluation of signature: {key}")
        seen.add(key)
        if key not in servable.signature_defs:
            raise _invalid(f"Requested signature not found in model graph: {key}")
        if task.method_name == CLASSIFY_METHOD:
            check_classification(servable.signature_defs[key])
        elif task.method_name == REGRESS_METHOD:
            check_regression(servable.signature_defs[key])
        else:
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"Unsupported signature method_name: {task.method_name}")
    raise _not_run("multi-inference")
