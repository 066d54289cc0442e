"""Checks a ``PredictRequest``'s tensors against a signature before the model runs.

TF Serving hands tensors to the session and lets TensorFlow complain; here the
same mistakes are caught first and answered with INVALID_ARGUMENT and a
message naming the input: a missing or unknown input, a wrong dtype, a wrong
rank or fixed dimension, too many elements, an oversize string, or a tensor
that does not decode. The limits also keep a small request from making the
server allocate a huge array (a ``TensorProto`` may declare a shape far larger
than the values it carries).

Tensors are decoded by TensorFlow's own ``Tensor::FromProto``, as TF Serving
decodes them: ``tensor_content`` must hold exactly ``elements × itemsize``
bytes; typed values (``string_val``, ``float_val``, ...) fill the declared
shape, the last value repeated when fewer are carried, extra ones ignored, and
none at all meaning zeros or empty strings. Before that, the rows (dimension 0) are capped per signature
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


# The dtypes a request's typed value fields can carry (string_val, float_val, int_val, ...).
_CARRIED_DTYPES = {
    types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8,
    types_pb2.DT_UINT8, types_pb2.DT_UINT16, types_pb2.DT_INT64, types_pb2.DT_UINT32, types_pb2.DT_UINT64,
    types_pb2.DT_BOOL, types_pb2.DT_STRING, types_pb2.DT_HALF, types_pb2.DT_BFLOAT16, types_pb2.DT_COMPLEX64,
    types_pb2.DT_COMPLEX128,
}


def _check_carried(name: str, tensor, dims, count: int, limits: RequestLimits) -> None:
    """Refuses a proto whose tensor_content does not fill its declared shape, or that would decode too large."""
    dtype_name = types_pb2.DataType.Name
    shape = _shape_text(dims)
    if tensor.dtype not in _CARRIED_DTYPES:
        raise _invalid(f"input '{name}' has dtype {dtype_name(tensor.dtype)}, which requests cannot carry")
    if tensor.dtype == types_pb2.DT_STRING:  # the longest string carried (in string_val or the encoded list)
        element_bytes = max([len(v) for v in tensor.string_val] + [len(tensor.tensor_content)])
    else:
        element_bytes = tf.dtypes.as_dtype(tensor.dtype).size
    if tensor.tensor_content and tensor.dtype != types_pb2.DT_STRING:
        if len(tensor.tensor_content) != count * element_bytes:
            raise _invalid(f"input '{name}' declares shape {shape} ({count} elements of {element_bytes} bytes) "
                           f"but its tensor_content has {len(tensor.tensor_content)} bytes")
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
    try:  # TensorFlow's own Tensor::FromProto, as TF Serving parses its inputs
        array = tf.io.parse_tensor(tensor.SerializeToString(), out_type=tf.as_dtype(tensor.dtype)).numpy()
    except tf.errors.OpError as e:
        raise _invalid(f"tensor parsing error: {name} (could not be decoded as a {dtype_name(tensor.dtype)} "
                       f"tensor of shape {dims})") from e
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
