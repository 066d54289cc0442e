"""Response tensors as TF Serving encodes them, and a decoder that reads either encoding.

TF Serving fills a ``PredictResponse``'s tensors with TensorFlow's
``Tensor::AsProtoField``: the values travel in the dtype's typed field
(``float_val``, ``int64_val``, ``string_val``, ...), so a client reading
``outputs["scores"].float_val`` gets the scores. Started with
``--enable_serialization_as_tensor_content`` it uses ``AsProtoTensorContent``
instead: the raw little-endian bytes in ``tensor_content`` (strings as
TensorFlow's string list: every length as a varint, then the bytes).
:func:`encode_tensor` does both; :func:`decode_tensor` reads both, including
string ``tensor_content``, which ``tf.make_ndarray`` cannot.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

# The typed field of each dtype, as Tensor::AsProtoField fills it.
_FIELDS = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val", types_pb2.DT_INT16: "int_val", types_pb2.DT_INT8: "int_val",
    types_pb2.DT_UINT8: "int_val", types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val", types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val", types_pb2.DT_STRING: "string_val",
    types_pb2.DT_HALF: "half_val", types_pb2.DT_BFLOAT16: "half_val",
    types_pb2.DT_COMPLEX64: "scomplex_val", types_pb2.DT_COMPLEX128: "dcomplex_val",
}


def encode_tensor(value, as_content: bool = False) -> tensor_pb2.TensorProto:
    """``value`` (array or tensor) as a ``TensorProto``: typed fields, or ``tensor_content`` when ``as_content``."""
    array = value.numpy() if isinstance(value, tf.Tensor) else np.asarray(value)
    dtype = tf.string if array.dtype.kind in "OSU" else tf.as_dtype(array.dtype)
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum)
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if as_content:
        proto.tensor_content = _string_list(array) if dtype == tf.string else array.astype(
            array.dtype.newbyteorder("<"), copy=False).tobytes()
        return proto
    field = _FIELDS.get(proto.dtype)
    if field is None:
        raise TypeError(f"cannot encode a tensor of dtype {dtype.name} in a response")
    flat = array.reshape(-1)
    if proto.dtype in (types_pb2.DT_HALF, types_pb2.DT_BFLOAT16):
        flat = flat.view(np.uint16)  # half_val carries the bit pattern
    elif proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        flat = np.stack([flat.real, flat.imag], axis=-1).reshape(-1)  # real, imaginary, real, ...
    elif proto.dtype == types_pb2.DT_STRING:
        flat = _as_bytes(flat)
    getattr(proto, field).extend(flat.tolist() if isinstance(flat, np.ndarray) else flat)
    return proto


def _as_bytes(flat) -> list[bytes]:
    return [v if isinstance(v, bytes) else str(v).encode() for v in flat]


def _string_list(array: np.ndarray) -> bytes:
    """TensorFlow's ``port::EncodeStringList``: the varint32 length of every string, then all the bytes."""
    strings = _as_bytes(array.reshape(-1))
    lengths = bytearray()
    for value in strings:
        size = len(value)
        while size >= 0x80:
            lengths.append((size & 0x7F) | 0x80)
            size >>= 7
        lengths.append(size)
    return bytes(lengths) + b"".join(strings)


def decode_tensor(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The array a ``TensorProto`` holds, whichever encoding it uses."""
    if proto.dtype == types_pb2.DT_STRING and proto.tensor_content:
        # TensorFlow's C++ decoder reads the string-list encoding (tf.make_ndarray does not).
        return tf.io.parse_tensor(proto.SerializeToString(), out_type=tf.string).numpy()
    return tf.make_ndarray(proto)
