"""One loaded version of one model: a SavedModel, its signatures, and how to run them.

Loading follows TF Serving: the ``serve`` meta graph's ``SignatureDef``s are
read from ``saved_model.pb`` (they are what ``GetModelMetadata`` reports and
what requests are checked against), the SavedModel is loaded, and the
warm-up records in ``assets.extra/tf_serving_warmup_requests`` are run; a
failing warm-up request fails the load, so a broken version never serves.
"""

from __future__ import annotations

import dataclasses
import os

import grpc
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (tokenizer ops of text encoders; built into TF Serving)
from tensorflow.core.protobuf import saved_model_pb2

from tfrec.export.warmup import read_warmup_requests
from tfrec.serving.errors import ServingError
from tfrec.serving.request_validation import RequestLimits, validate_inputs

DEFAULT_SIGNATURE = "serving_default"


def read_signature_defs(path: str) -> dict:
    """The ``SignatureDef`` protos of the ``serve`` meta graph of the SavedModel at ``path``."""
    pb = os.path.join(path, "saved_model.pb")
    if not os.path.exists(pb):
        raise FileNotFoundError(f"{path} holds no saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{path} has no meta graph tagged 'serve'")


@dataclasses.dataclass(frozen=True)
class Servable:
    """A model version ready to answer requests; immutable once loaded."""

    name: str
    version: int
    path: str
    signature_defs: dict
    functions: dict
    limits: RequestLimits
    loaded: object = dataclasses.field(default=None, repr=False)  # keeps variables and tables alive

    def signature(self, signature_name: str):
        """The ``SignatureDef`` of ``signature_name`` (empty: the default signature)."""
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signature_defs or key not in self.functions:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f'Serving signature key "{key}" not found in {self.name} version {self.version} '
                               f"(signatures: {', '.join(sorted(self.functions))})")
        return key, self.signature_defs[key]

    def predict(self, inputs, signature_name: str = "", output_filter=(),
                batcher=None) -> tuple[str, dict[str, np.ndarray]]:
        """Validates the ``TensorProto`` inputs and runs the signature; returns its name and outputs.

        With a :class:`tfrec.serving.request_batcher.RequestBatcher` the signature runs in a batch
        with other concurrent requests (when it can be batched) and the outputs are this request's rows.
        """
        key, signature_def = self.signature(signature_name)
        arrays = validate_inputs(inputs, signature_def, key, self.limits)
        wanted = list(output_filter) or sorted(signature_def.outputs)
        for alias in wanted:
            if alias not in signature_def.outputs:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"output '{alias}' is not in signature '{key}', "
                                   f"whose outputs are: {', '.join(sorted(signature_def.outputs))}")
        if len(set(wanted)) != len(wanted):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, "output_filter names an output twice")
        feeds = {name: tf.constant(value, dtype=tf.as_dtype(signature_def.inputs[name].dtype))
                 for name, value in arrays.items()}
        if batcher is not None:  # server-side request batching
            outputs = batcher.run(self, key, feeds)
            return key, {alias: outputs[alias] for alias in wanted}
        outputs = self.functions[key](**feeds)
        return key, {alias: outputs[alias].numpy() for alias in wanted}


def load_servable(name: str, version: int, path: str, limits: RequestLimits = RequestLimits()) -> Servable:
    """Loads the SavedModel at ``path`` and runs its warm-up records."""
    signature_defs = read_signature_defs(path)
    loaded = tf.saved_model.load(path, tags=["serve"])
    functions = dict(loaded.signatures)
    servable = Servable(name, version, path, signature_defs, functions, limits, loaded)
    for i, log in enumerate(read_warmup_requests(path)):
        if log.WhichOneof("log_type") != "predict_log":
            continue  # classify/regress/multi-inference records: not served here
        request = log.predict_log.request
        try:
            servable.predict(request.inputs, request.model_spec.signature_name, request.output_filter)
        except (ServingError, tf.errors.OpError) as e:
            raise ValueError(f"warm-up request {i} of {name} version {version} failed: {e}") from e
    return servable
