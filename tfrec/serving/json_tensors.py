"""TF Serving's JSON tensors: a REST predict body to ``TensorProto``s, and output arrays back to JSON.

Follows ``tensorflow_serving/util/json_tensor.cc``, with its messages:

* a body is an object with an optional ``signature_name`` (a string) and exactly
  one of ``instances`` (row format: a non-empty list with one entry per row,
  each an object naming every input, or, for a one-input signature, the
  value itself) or ``inputs`` (columnar format: an object naming every input,
  or, for a one-input signature, the value itself);
* a tensor's shape is read from the first element at every level of nesting
  and every list must have that length (no ragged lists); every row of the
  row format must give an input the same shape;
* a string value is a JSON string (its UTF-8 bytes) or ``{"b64": "..."}``
  (standard base64) for binary data; numbers must fit the input's dtype
  (an integer input refuses ``1.5``, no input takes ``true`` for a number).

Answers mirror the request's format: ``{"predictions": [...]}`` with one entry
per row (the value of the only output, or an object of every output) or
``{"outputs": ...}`` (the only output's value, or an object of every output).
Floats are written as TF Serving writes them: the shortest of ``%g`` and full
precision that reads back to the same value, a ``.0`` on whole numbers, and
``NaN``, ``Infinity``, ``-Infinity``; a string output whose name ends in
``_bytes`` is written as ``{"b64": ...}``.

Every mistake is a :class:`tfrec.serving.errors.ServingError` (INVALID_ARGUMENT)
naming the value; nothing here recurses on the request, so the depth of a
hostile body costs no stack.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from tfrec.serving.errors import ServingError

ROW, COLUMNAR = "row", "columnar"  # the request's format, which the answer repeats
BYTES_SUFFIX = "_bytes"
_DEBUG_CHARS = 256  # of a JSON value quoted in a message, as TF Serving cuts it


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _debug(value) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= _DEBUG_CHARS else text[:_DEBUG_CHARS] + "..."


def _json_type(value) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def parse_body(body: bytes) -> dict:
    """The JSON object of a request body (NaN and Infinity accepted, as by TF Serving)."""
    if not body.strip():
        raise _invalid("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise _invalid(f"JSON Parse error: Invalid encoding in string at offset: {e.start}") from None
    except json.JSONDecodeError as e:
        raise _invalid(f"JSON Parse error: {e.msg} at offset: {e.pos}") from None
    except RecursionError:
        raise _invalid("JSON Parse error: the document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise _invalid(f"JSON Value: {_debug(doc)} Is not object")
    return doc


def signature_name_of(doc: dict) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise _invalid(f"JSON Value: {_debug(doc)} not formatted correctly. "
                       "'signature_name' key must be a string value.")
    return name


def _is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _b64decode(value: dict) -> bytes:
    text = value["b64"]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("Unable to base64 decode") from None


def _converter(dtype: int):
    """``value -> Python value of the dtype``, or raises the type error TF Serving gives."""
    name = tf.dtypes.as_dtype(dtype).name
    if dtype == types_pb2.DT_STRING:
        def convert(v):
            if isinstance(v, str):
                return v.encode("utf-8", "surrogatepass")
            if isinstance(v, dict):
                if not _is_b64(v):
                    raise _invalid(f"JSON Value: {_debug(v)} not formatted correctly for base64 data")
                return _b64decode(v)
            raise _type_error(v, name)
        return convert
    np_dtype = tf.dtypes.as_dtype(dtype).as_numpy_dtype
    if dtype == types_pb2.DT_BOOL:
        def convert(v):
            if not isinstance(v, bool):
                raise _type_error(v, name)
            return v
        return convert
    if np.issubdtype(np_dtype, np.floating):
        def convert(v):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _type_error(v, name)
            try:
                return float(v)
            except OverflowError:
                raise _type_error(v, name) from None
        return convert
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        low, high = int(info.min), int(info.max)
        if dtype in (types_pb2.DT_INT8, types_pb2.DT_INT16, types_pb2.DT_UINT8):  # TF Serving reads them as int32
            low, high = -2**31, 2**31 - 1

        def convert(v):
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                raise _type_error(v, name)
            return v
        return convert
    raise ServingError(grpc.StatusCode.UNIMPLEMENTED, f"Conversion of JSON values to type: {name} is not supported")


def _type_error(value, dtype_name: str) -> ServingError:
    return _invalid(f"JSON Value: {_debug(value)} Type: {_json_type(value)} is not of expected type: {dtype_name}")


def _dense_shape(value) -> list[int]:
    """The shape read from the first element at every level (a scalar: [])."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _flatten(value, shape: list[int], convert, out: list) -> None:
    """Appends the leaves of ``value`` (row-major) to ``out``; every list must fill ``shape``."""
    rank = len(shape)
    stack = [(value, 0)]
    while stack:
        v, level = stack.pop()
        if isinstance(v, list):
            if level >= rank:
                raise _invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
            if len(v) != shape[level]:
                raise _invalid(f"Encountered list at unexpected size: {len(v)} at level: {level} "
                               f"expected size: {shape[level]}")
            stack.extend((item, level + 1) for item in reversed(v))
        else:
            if level != rank:
                raise _invalid(f"JSON Value: {_debug(v)} found at incorrect level: {level + 1} in the JSON DOM. "
                               f"Expected at level: {rank}")
            out.append(convert(v))


def _tensor(values: list, shape: list[int], dtype: int):
    np_dtype = object if dtype == types_pb2.DT_STRING else tf.dtypes.as_dtype(dtype).as_numpy_dtype
    array = np.array(values, dtype=np_dtype).reshape(shape)
    return tf.make_tensor_proto(array, dtype=tf.dtypes.as_dtype(dtype), shape=shape)


def _one_value(value, dtype: int) -> tuple[list, list[int]]:
    shape = _dense_shape(value)
    values: list = []
    _flatten(value, shape, _converter(dtype), values)
    return values, shape


def _shape_text(shape) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _from_instances(instances, input_infos: dict) -> dict:
    """The row format: one entry per row, stacked along a new first dimension."""
    names = sorted(input_infos)
    first = instances[0]
    by_name = isinstance(first, dict) and not _is_b64(first)
    if not by_name and len(names) > 1:
        raise _invalid("instances is a plain list, but expecting list of objects as multiple input tensors "
                       "required as per tensorinfo_map")
    values = {name: [] for name in names}
    shapes: dict[str, list[int]] = {}

    def add(name, item, row, key_note):
        try:
            got, shape = _one_value(item, input_infos[name].dtype)
        except ServingError as e:
            raise _invalid(f"Failed to process element: {row}{key_note} of 'instances' list. "
                           f"Error: {e.message}") from None
        if name not in shapes:
            shapes[name] = shape
        elif shapes[name] != shape:
            size, expected = int(np.prod(shape)), int(np.prod(shapes[name]))
            detail = (f"Expecting tensor size: {expected} but got: {size}" if size != expected
                      else f"Expecting shape {_shape_text(shapes[name])} but got: {_shape_text(shape)}")
            raise _invalid(f"Failed to process element: {row}{key_note} of 'instances' list. Error: {detail}")
        values[name].extend(got)

    for row, element in enumerate(instances):
        is_object = isinstance(element, dict) and not _is_b64(element)
        if by_name:
            if not is_object:
                raise _invalid(f"Expecting object but got list at item {row} of input list")
            for key in element:
                if key not in input_infos:
                    raise _invalid(f"Failed to process element: {row} key: {key} of 'instances' list. "
                                   f"Error: JSON object: does not have named input: {key}")
            if set(element) != set(names):
                raise _invalid(f"Failed to process element: {row} of 'instances' list. JSON object: "
                               f"{_debug(element)} keys must be equal to: {','.join(names)}")
            for key in names:
                add(key, element[key], row, f" key: {key}")
        else:
            if is_object:
                raise _invalid(f"Expecting value/list but got object at item {row} of input list")
            add(names[0], element, row, "")
    return {name: _tensor(values[name], [len(instances)] + shapes[name], input_infos[name].dtype)
            for name in names}


def _from_inputs(inputs, input_infos: dict) -> dict:
    """The columnar format: each input's whole tensor."""
    names = sorted(input_infos)
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(names) > 1:
            raise _invalid("inputs is a plain value/list, but expecting an object as multiple input tensors "
                           "required as per tensorinfo_map")
        inputs = {names[0]: inputs}
    tensors = {}
    for name in names:
        if name not in inputs:
            raise _invalid(f"Missing named input: {name} in 'inputs' object.")
        values, shape = _one_value(inputs[name], input_infos[name].dtype)
        tensors[name] = _tensor(values, shape, input_infos[name].dtype)
    return tensors


def predict_inputs(doc: dict, input_infos: dict) -> tuple[dict, str]:
    """``(name -> TensorProto, format)`` of a predict body, for a signature's ``inputs`` (name -> TensorInfo)."""
    if not input_infos:
        raise _invalid("Failed to get input map for signature")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise _invalid(f"JSON Value: {_debug(doc)} Not formatted correctly expecting only one of 'inputs' or "
                       "'instances' keys to exist ")
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise _invalid(f"JSON Value: {_debug(doc)} Expecting 'instances' to be an list/array")
        if not instances:
            raise _invalid(f"JSON Value: {_debug(doc)} No values in 'instances' array")
        return _from_instances(instances, input_infos), ROW
    if has_inputs:
        return _from_inputs(doc["inputs"], input_infos), COLUMNAR
    raise _invalid("Missing 'inputs' or 'instances' key")


def check_examples(doc: dict, method: str) -> None:
    """The ``examples`` (and optional ``context``) of a classify/regress body, checked as TF Serving does."""
    if "context" in doc and not isinstance(doc["context"], dict):
        raise _invalid(f"Example must be JSON object but got JSON {_json_type(doc['context'])}")
    if "examples" not in doc:
        raise _invalid(f"JSON Value: {_debug(doc)} When method is {method}, key 'examples' is expected and was "
                       "not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise _invalid(f"JSON Value: {_debug(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise _invalid(f"JSON Value: {_debug(doc)} 'examples' value is an empty array")
    for example in examples:
        if not isinstance(example, dict):
            raise _invalid(f"Example must be JSON object but got JSON {_json_type(example)}")


# -- answers ------------------------------------------------------------------------------------
def format_float(value: float, single: bool) -> str:
    """A float as TF Serving writes it (``single``: a float32, read back as one)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%g" % value
    same = (np.float32(float(text)) == np.float32(value)) if single else float(text) == value
    if not same:
        text = ("%.9g" if single else "%.17g") % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _writer(array: np.ndarray, as_bytes: bool):
    """``Python value of one element -> JSON text`` for the array's dtype."""
    kind = array.dtype.kind
    if kind == "f":
        single = array.dtype.itemsize <= 4
        return lambda v: format_float(v, single)
    if kind == "b":
        return lambda v: "true" if v else "false"
    if kind in "iu":
        return str
    if kind in "OSU":
        if as_bytes:
            return lambda v: '{"b64": "' + base64.b64encode(_bytes(v)).decode("ascii") + '"}'
        return lambda v: json.dumps(_bytes(v).decode("utf-8", "replace"), ensure_ascii=False)
    raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                       f"Failed to write JSON value for tensor type: {array.dtype}")


def _bytes(value) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _nested(value, write) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v, write) for v in value) + "]"
    return write(value)


def _json_of(array: np.ndarray, name: str) -> tuple[list, object]:
    """``(array.tolist(), element writer)``: an array's values and how to write each as TF Serving does."""
    return array.tolist(), _writer(array, name.endswith(BYTES_SUFFIX) and array.dtype.kind in "OSU")


def predict_answer(outputs: dict[str, np.ndarray], request_format: str) -> str:
    """The JSON answer of a predict call: ``predictions`` (row format) or ``outputs`` (columnar)."""
    if not outputs:
        raise _invalid("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    values = {name: _json_of(np.asarray(outputs[name]), name) for name in names}
    if request_format == COLUMNAR:
        if len(names) == 1:
            return '{"outputs": ' + _nested(*values[names[0]]) + "}"
        body = ", ".join(f"{json.dumps(n)}: {_nested(*values[n])}" for n in names)
        return '{"outputs": {' + body + "}}"
    batch = None
    for name in names:
        array = np.asarray(outputs[name])
        if array.ndim == 0:
            raise _invalid(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise _invalid(f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    rows = []
    for i in range(batch):
        if len(names) == 1:
            rows.append(_nested(values[names[0]][0][i], values[names[0]][1]))
        else:
            rows.append("{" + ", ".join(f"{json.dumps(n)}: {_nested(values[n][0][i], values[n][1])}"
                                        for n in names) + "}")
    return '{"predictions": [' + ", ".join(rows) + "]}"
