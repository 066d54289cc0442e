"""Declared shapes against carried values and row limits, checked before any array is built.

A ``TensorProto`` may declare far more elements than it carries; these tests
build such protos by hand and check that ``validate_inputs`` refuses those over
the limits with INVALID_ARGUMENT naming the input, the declared shape and the
limit, and decodes the others as TensorFlow (and so TF Serving) decodes them.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from tfrec.serving.errors import ServingError
from tfrec.serving.request_validation import RequestLimits, validate_inputs


def signature(dtype=types_pb2.DT_STRING, rank=1):
    sig = meta_graph_pb2.SignatureDef()
    info = sig.inputs["x"]
    info.dtype = dtype
    for _ in range(rank):
        info.tensor_shape.dim.add(size=-1)
    return sig


def declared(shape, dtype=types_pb2.DT_STRING, strings=(), ints=(), content=b""):
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[{"size": d} for d in shape]))
    proto.string_val.extend(strings)
    proto.int_val.extend(ints)
    proto.tensor_content = content
    return proto


def refused(proto, sig=None, limits=RequestLimits(), name="serving_default"):
    with pytest.raises(ServingError) as e:
        validate_inputs({"x": proto}, sig or signature(), name, limits)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return e.value.message


def test_a_million_rows_declared_with_one_string_is_refused_quickly_naming_shape_and_limit():
    started = time.perf_counter()
    message = refused(declared([1_000_000], strings=[b"u1"]))
    assert time.perf_counter() - started < 0.1
    assert "'x'" in message and "[1000000]" in message and "10000" in message


def test_one_megabyte_string_declared_a_thousand_times_is_refused_by_size():
    limits = RequestLimits(max_rows=100_000)
    message = refused(declared([1000], strings=[b"a" * (1024 * 1024)]), limits=limits)
    assert "'x'" in message and "[1000]" in message and str(limits.max_tensor_bytes) in message


def decoded(proto, sig=None):
    return validate_inputs({"x": proto}, sig or signature(), "s")["x"].tolist()


def test_typed_values_fill_the_declared_shape_as_tensorflow_fills_it():
    """TF Serving decodes with Tensor::FromProto: the last value repeats, extra ones are dropped,
    none means empty strings (or zeros)."""
    assert decoded(declared([4], strings=[b"a", b"b"])) == [b"a", b"b", b"b", b"b"]
    assert decoded(declared([2], strings=[b"a", b"b", b"c"])) == [b"a", b"b"]
    assert decoded(declared([3])) == [b"", b"", b""]
    assert decoded(declared([3], dtype=types_pb2.DT_INT32, ints=[7, 8]), signature(types_pb2.DT_INT32)) == [7, 8, 8]


def test_strings_in_tensor_content_decode_as_tensorflow_encodes_them():
    from tfrec.serving.tensor_encoding import encode_tensor

    assert decoded(encode_tensor(np.array([b"u1", b"u22"], dtype=object), as_content=True)) == [b"u1", b"u22"]


def test_tensor_content_of_the_wrong_length_is_refused():
    proto = declared([1000], dtype=types_pb2.DT_INT32, content=np.arange(3, dtype=np.int32).tobytes())
    message = refused(proto, signature(types_pb2.DT_INT32))
    assert "tensor_content has 12 bytes" in message and "[1000]" in message


def test_the_legal_forms_still_decode():
    sig = signature()
    assert validate_inputs({"x": declared([3], strings=[b"a", b"b", b"c"])}, sig, "s")["x"].tolist() == [b"a", b"b", b"c"]
    assert validate_inputs({"x": declared([3], strings=[b"a"])}, sig, "s")["x"].tolist() == [b"a"] * 3
    assert validate_inputs({"x": declared([0])}, sig, "s")["x"].shape == (0,)
    ints = tf.make_tensor_proto(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert ints.tensor_content  # numeric arrays travel as tensor_content
    got = validate_inputs({"x": ints}, signature(types_pb2.DT_INT32, rank=2), "s")["x"]
    assert got.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_the_row_limit_is_per_signature_and_configurable():
    limits = RequestLimits(max_rows=5, rows_by_signature=(("big", 50),))
    proto = declared([10], strings=[b"u"] * 10)
    assert "limit of 5 rows for signature 'small'" in refused(proto, limits=limits, name="small")
    assert validate_inputs({"x": proto}, signature(), "big", limits)["x"].shape == (10,)
    assert validate_inputs({"x": declared([5], strings=[b"u"] * 5)}, signature(), "small", limits)["x"].shape == (5,)
