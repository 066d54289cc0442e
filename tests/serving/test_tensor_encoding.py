"""Response tensors in TF Serving's encodings, read back by tfrec's client and by TensorFlow's C++ parser."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.serving.client import ServingClient
from tfrec.serving.model_server import ModelServer
from tfrec.serving.tensor_encoding import decode_tensor, encode_tensor

VALUES = {
    "float32": np.array([[1.5, -2.0], [3.25, 4.0]], np.float32),
    "float64": np.array([0.1, 0.2]),
    "int32": np.array([1, -7], np.int32),
    "int64": np.array([[2**40]], np.int64),
    "bool": np.array([True, False]),
    "float16": np.array([1.5, -0.25], np.float16),
    "complex64": np.array([1 + 2j, -3j], np.complex64),
    "strings": np.array([[b"a", b"bc"], [b"", b"x" * 300]], dtype=object),
    "empty": np.zeros((0, 3), np.float32),
}
FIELDS = {"float32": "float_val", "float64": "double_val", "int32": "int_val", "int64": "int64_val",
          "bool": "bool_val", "float16": "half_val", "complex64": "scomplex_val", "strings": "string_val"}


@pytest.mark.parametrize("name", sorted(VALUES))
@pytest.mark.parametrize("as_content", [False, True])
def test_both_encodings_round_trip_and_tensorflow_parses_them(name, as_content):
    value = VALUES[name]
    proto = encode_tensor(value, as_content=as_content)
    assert [d.size for d in proto.tensor_shape.dim] == list(value.shape)
    if name in FIELDS:
        typed = len(getattr(proto, FIELDS[name]))
        assert (typed, bool(proto.tensor_content)) == ((0, True) if as_content else (value.size * (
            2 if name == "complex64" else 1), False))
    np.testing.assert_array_equal(decode_tensor(proto), value)
    parsed = tf.io.parse_tensor(proto.SerializeToString(), out_type=tf.as_dtype(proto.dtype)).numpy()
    np.testing.assert_array_equal(parsed, value)


def test_a_server_sending_tensor_content_is_read_by_the_client_as_the_default_one(served_base):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    users = tf.make_tensor_proto([b"u1", b"u2", b"u17"])
    answers = {}
    for as_content in (False, True):
        server = ModelServer(base=served_base, port=0, poll_seconds=0, tensor_content=as_content)
        port = server.start()
        try:
            with ServingClient(f"127.0.0.1:{port}") as client:
                answers[as_content], _ = client.predict("retrieval", {"user_id": users})
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "retrieval"
                request.inputs["user_id"].CopyFrom(users)
                wire = prediction_service_pb2_grpc.PredictionServiceStub(client._channel).Predict(request, timeout=10)
        finally:
            server.stop(0)
        items, scores = wire.outputs["item_ids"], wire.outputs["scores"]
        if as_content:
            assert items.tensor_content and scores.tensor_content and not items.string_val and not scores.float_val
        else:
            assert len(items.string_val) == len(scores.float_val) == 3 * 20 and not scores.tensor_content
    for name in ("item_ids", "scores"):
        np.testing.assert_array_equal(answers[True][name], answers[False][name])
    assert answers[True]["item_ids"].dtype == object and answers[True]["item_ids"].shape == (3, 20)
