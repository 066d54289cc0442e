"""Checks a ``PredictRequest``'s tensors against a signature before the model runs.

TF Serving hands tensors to the session and lets TensorFlow complain; here the
same mistakes are caught first and answered with INVALID_ARGUMENT and a
message naming the input: a missing or unknown input, a wrong dtype, a wrong
rank or fixed dimension, too many elements, an oversize string, or a tensor
that does not decode. The limits also keep a small request from making the
server allocate a huge array (a ``TensorProto`` may declare a shape far larger
than the values it carries).

Before any array is built, the declared shape is held against what the proto
actually carries, as TensorFlow's ``tensor_util`` reads it: either
``tensor_content`` of exactly ``elements × itemsize`` bytes, or one value per
element, or exactly one value that is broadcast to every element. Anything
else is refused. The rows (dimension 0) are capped per signature
(``RequestLimits.max_rows``, ``rows_by_signature``) and the bytes the decoded
tensor would take (declared elements × per-element size, the longest carried
string for strings) are capped by ``max_tensor_bytes``, so a 30-byte request
declaring a million rows, or one 1 MB string declared a thousand times, is
refused in microseconds instead of allocating gigabytes.
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
    max_rows: int = 10_000                   # dimension 0 of every input, unless rows_by_signature says
    max_tensor_bytes: int = 64 * 1024 * 1024  # what one decoded input may take (elements × element size)
    rows_by_signature: tuple = ()            # ((signature name, max rows), ...) overriding max_rows

    def rows_for(self, signature_name: str) -> int:
        """The row limit of ``signature_name``: its own entry, or ``max_rows``."""
        return dict(self.rows_by_signature).get(signature_name, self.max_rows)


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _shape_text(dims) -> str:
    return "[" + ", ".join("?" if d < 0 else str(d) for d in dims) + "]"


# The repeated value field a dtype's values travel in, and how many field entries make one element.
_VALUE_FIELDS = {
    types_pb2.DT_FLOAT: ("float_val", 1), types_pb2.DT_DOUBLE: ("double_val", 1),
    types_pb2.DT_INT32: ("int_val", 1), types_pb2.DT_INT16: ("int_val", 1), types_pb2.DT_INT8: ("int_val", 1),
    types_pb2.DT_UINT8: ("int_val", 1), types_pb2.DT_UINT16: ("int_val", 1),
    types_pb2.DT_INT64: ("int64_val", 1), types_pb2.DT_UINT32: ("uint32_val", 1),
    types_pb2.DT_UINT64: ("uint64_val", 1), types_pb2.DT_BOOL: ("bool_val", 1),
    types_pb2.DT_STRING: ("string_val", 1), types_pb2.DT_HALF: ("half_val", 1),
    types_pb2.DT_BFLOAT16: ("half_val", 1), types_pb2.DT_COMPLEX64: ("scomplex_val", 2),
    types_pb2.DT_COMPLEX128: ("dcomplex_val", 2),
}


def _check_carried(name: str, tensor, dims, count: int, limits: RequestLimits) -> None:
    """Refuses a proto whose carried values do not fill its declared shape, or would decode too large."""
    dtype_name = types_pb2.DataType.Name
    shape = _shape_text(dims)
    if tensor.dtype == types_pb2.DT_STRING:
        element_bytes = max((len(v) for v in tensor.string_val), default=0)
    else:
        element_bytes = tf.dtypes.as_dtype(tensor.dtype).size
    if tensor.tensor_content:
        if tensor.dtype == types_pb2.DT_STRING:
            raise _invalid(f"input '{name}' is DT_STRING but carries tensor_content")
        if len(tensor.tensor_content) != count * element_bytes:
            raise _invalid(f"input '{name}' declares shape {shape} ({count} elements of {element_bytes} bytes) "
                           f"but its tensor_content has {len(tensor.tensor_content)} bytes")
    else:
        field, per_element = _VALUE_FIELDS.get(tensor.dtype, (None, 1))
        if field is None:
            raise _invalid(f"input '{name}' has dtype {dtype_name(tensor.dtype)}, which requests cannot carry")
        carried = len(getattr(tensor, field)) // per_element
        if carried != count and not (carried == 1 and count > 1):
            raise _invalid(f"input '{name}' declares shape {shape} ({count} elements) but carries {carried} "
                           f"values; a tensor must carry one value per element, or exactly one to broadcast")
    declared_bytes = count * element_bytes
    if declared_bytes > limits.max_tensor_bytes:
        raise _invalid(f"input '{name}' declares shape {shape}, which would take {declared_bytes} bytes, "
                       f"more than the limit of {limits.max_tensor_bytes}")


def _check_one(name: str, tensor, info, limits: RequestLimits, signature_name: str = "") -> np.ndarray:
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
    max_rows = limits.rows_for(signature_name)
    if dims and dims[0] > max_rows:
        raise _invalid(f"input '{name}' declares shape {_shape_text(dims)}: {dims[0]} rows, more than the "
                       f"limit of {max_rows} rows for signature '{signature_name}'")
    if tensor.dtype == types_pb2.DT_STRING:
        for value in tensor.string_val:
            if len(value) > limits.max_string_bytes:
                raise _invalid(f"input '{name}' holds a string of {len(value)} bytes, "
                               f"more than the limit of {limits.max_string_bytes}")
    _check_carried(name, tensor, dims, count, limits)
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
    return {name: _check_one(name, inputs[name], signature_def.inputs[name], limits, signature_name)
            for name in sorted(given)}
