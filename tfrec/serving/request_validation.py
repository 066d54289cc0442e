"""Checks a ``PredictRequest``'s tensors against a signature before the model runs.

TF Serving hands tensors to the session and lets TensorFlow complain; here the
same mistakes are caught first and answered with INVALID_ARGUMENT and a
message naming the input: a missing or unknown input, a wrong dtype, a wrong
rank or fixed dimension, too many elements, an oversize string, or a tensor
that does not decode. The limits also keep a small request from making the
server allocate a huge array (a ``TensorProto`` may declare a shape far larger
than the values it carries).
"""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from tfrec.serving.errors import ServingError


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Upper bounds on what one request may carry."""

    max_elements: int = 1_000_000            # per input tensor
    max_string_bytes: int = 4 * 1024 * 1024  # per string element: room for an encoded photo


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _shape_text(dims) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in dims) + "]"


def _check_one(name: str, tensor, info, limits: RequestLimits) -> np.ndarray:
    dtype_name = types_pb2.DataType.Name
    if tensor.dtype != info.dtype:
        raise _invalid(f"input '{name}' must be {dtype_name(info.dtype)}, got {dtype_name(tensor.dtype)}")
    if tensor.tensor_shape.unknown_rank:
        raise _invalid(f"input '{name}' must have a known shape")
    dims = [d.size for d in tensor.tensor_shape.dim]
    if any(d < 0 for d in dims):
        raise _invalid(f"input '{name}' has a negative dimension in its shape {dims}")
    if not info.tensor_shape.unknown_rank:
        expected = [d.size for d in info.tensor_shape.dim]
        if len(dims) != len(expected) or any(e >= 0 and e != d for e, d in zip(expected, dims)):
            raise _invalid(f"input '{name}' must have shape {_shape_text(expected)} "
                           f"(rank {len(expected)}), got {_shape_text(dims)}")
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if count > limits.max_elements:
        raise _invalid(f"input '{name}' has {count} elements, more than the limit of {limits.max_elements}")
    if tensor.dtype == types_pb2.DT_STRING:
        for value in tensor.string_val:
            if len(value) > limits.max_string_bytes:
                raise _invalid(f"input '{name}' holds a string of {len(value)} bytes, "
                               f"more than the limit of {limits.max_string_bytes}")
    try:
        array = tf.make_ndarray(tensor)
    except Exception as e:  # noqa: BLE001 - any decoding failure is the request's fault
        raise _invalid(f"input '{name}' could not be decoded as a {dtype_name(tensor.dtype)} "
                       f"tensor of shape {dims}: {e}") from e
    if list(array.shape) != dims:
        raise _invalid(f"input '{name}' decoded to shape {list(array.shape)}, not its declared {dims}")
    return array


def validate_inputs(inputs, signature_def, signature_name: str,
                    limits: RequestLimits = RequestLimits()) -> dict[str, np.ndarray]:
    """The request's inputs (a map of name → ``TensorProto``) as arrays, or a ServingError."""
    expected = set(signature_def.inputs)
    given = set(inputs)
    unknown = sorted(given - expected)
    if unknown:
        raise _invalid(f"unknown input '{unknown[0]}' for signature '{signature_name}', "
                       f"which takes: {', '.join(sorted(expected))}")
    missing = sorted(expected - given - set(signature_def.defaults))
    if missing:
        raise _invalid(f"missing input '{missing[0]}' for signature '{signature_name}', "
                       f"which takes: {', '.join(sorted(expected))}")
    return {name: _check_one(name, inputs[name], signature_def.inputs[name], limits) for name in sorted(given)}
