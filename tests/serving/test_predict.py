"""Predict, GetModelMetadata and GetModelStatus over gRPC, on both server implementations."""

import grpc
import numpy as np
import pytest
import tensorflow as tf

from tfrec.serving.errors import ServingError
from tfrec.serving.saved_model_recommender import SavedModelRecommender

from .conftest import MAX_K

USERS = ["u1", "u2", "u17", "u250", "no-such-user"]


def test_predict_equals_the_local_savedmodel_call(client, served_base):
    local = SavedModelRecommender(served_base).raw(USERS, MAX_K)
    outputs, version = client.predict("retrieval", {"user_id": tf.make_tensor_proto(USERS, dtype=tf.string)})
    assert version == 1 and outputs["item_ids"].shape == (len(USERS), MAX_K)
    np.testing.assert_array_equal(outputs["item_ids"], local["item_ids"])
    np.testing.assert_allclose(outputs["scores"], local["scores"], rtol=1e-6)
    recs = client.recommend(USERS, 7)
    assert [[i for i, _ in row] for row in recs] == local["item_ids"][:, :7].astype(str).tolist()


def test_metadata_lists_the_signature(client):
    meta = client.metadata("retrieval")
    assert meta["version"] == 1
    signature = meta["signatures"]["serving_default"]
    assert signature["inputs"] == {"user_id": ("DT_STRING", [-1])}  # no scalar: TF Serving can batch it
    assert signature["outputs"] == {"item_ids": ("DT_STRING", [-1, MAX_K]), "scores": ("DT_FLOAT", [-1, MAX_K])}


def test_status_says_available(client):
    assert [(s.version, s.state) for s in client.model_status("retrieval")] == [(1, "AVAILABLE")]
    assert client.model_status("retrieval", version=1)[0].state == "AVAILABLE"


def test_a_pinned_version_is_served_and_unknown_ones_are_not_found(client):
    outputs, version = client.predict("retrieval", {"user_id": np.array([b"u1"])}, version=1)
    assert version == 1 and outputs["item_ids"].shape == (1, MAX_K)
    with pytest.raises(ServingError) as e:
        client.recommend(["u1"], 3, version=99)
    assert e.value.code == grpc.StatusCode.NOT_FOUND


def test_unknown_model_is_not_found(client):
    for call in (lambda: client.recommend(["u1"], 3, model="no_such_model"),
                 lambda: client.model_status("no_such_model"),
                 lambda: client.metadata("no_such_model")):
        with pytest.raises(ServingError) as e:
            call()
        assert e.value.code == grpc.StatusCode.NOT_FOUND and e.value.message


def test_an_empty_batch_gets_an_empty_result(client):
    """Documented choice: zero users is a valid request with [0, max_k] outputs (the model handles it)."""
    outputs, _ = client.predict("retrieval", {"user_id": tf.make_tensor_proto([], dtype=tf.string)})
    assert outputs["item_ids"].shape == (0, MAX_K) and outputs["scores"].shape == (0, MAX_K)


def _declared_huge():
    """A tiny TensorProto that claims a billion strings: must be refused, never allocated."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"u1"],
                                  tensor_shape=tensor_shape_pb2.TensorShapeProto(
                                      dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=10**9)]))


MALFORMED = {
    "huge declared shape": ({"user_id": _declared_huge()}, "user_id"),
    "wrong dtype": ({"user_id": tf.make_tensor_proto([1], dtype=tf.int64)}, "user_id"),
    "wrong rank": ({"user_id": tf.make_tensor_proto([["u1"]])}, "user_id"),
    "scalar user_id": ({"user_id": tf.make_tensor_proto("u1")}, "user_id"),
    "missing input": ({}, "user_id"),
    "unknown input": ({"user_id": tf.make_tensor_proto(["u1"]), "history": tf.make_tensor_proto([["i1"]])},
                      "history"),
    "a scalar k": ({"user_id": tf.make_tensor_proto(["u1"]), "k": tf.make_tensor_proto(5, dtype=tf.int32)}, "k"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_are_invalid_argument_and_the_server_keeps_serving(client, server, case):
    inputs, named = MALFORMED[case]
    with pytest.raises(ServingError) as e:
        client.predict("retrieval", inputs)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    if server.kind == "dev":  # TF Serving words its messages differently
        assert named in e.value.message
    assert len(client.recommend(["u1"], 3)[0]) == 3


@pytest.mark.parametrize("k", [0, -3, MAX_K + 1, 2**31 - 1])
def test_k_out_of_range_is_invalid_argument_naming_the_limit(client, k):
    with pytest.raises(ServingError) as e:
        client.recommend(["u1"], k)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.message == f"k must be between 1 and {MAX_K} (the model's max_k), got {k}"
    assert len(client.recommend(["u1"], MAX_K)[0]) == MAX_K


def test_a_10_mb_string_is_refused_with_a_message(client, server):
    if server.kind != "dev":
        pytest.skip("the string size limit is the development server's; TF Serving accepts the string")
    with pytest.raises(ServingError) as e:
        client.recommend(["x" * (10 * 1024 * 1024)], 3)
    assert e.value.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "user_id" in e.value.message and "bytes" in e.value.message
    assert len(client.recommend(["u1"], 3)[0]) == 3


def test_a_message_over_the_limit_is_resource_exhausted(client, server):
    if server.kind != "dev":
        pytest.skip("TF Serving's default message limit is far above 16 MiB")
    from tfrec.serving.client import ServingClient

    with ServingClient(server.target, max_message_mb=64) as big, pytest.raises(ServingError) as e:
        big.recommend(["x" * (17 * 1024 * 1024)], 3)
    assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and e.value.message
    assert len(client.recommend(["u1"], 3)[0]) == 3


def test_classify_on_a_predict_signature_is_refused_as_tf_serving_refuses_it(client):
    from tensorflow_serving.apis import classification_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(client._channel)
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "retrieval"
    with pytest.raises(grpc.RpcError) as e:
        stub.Classify(request, timeout=5)
    # TF Serving's classifier.cc: the predict signature has no "inputs" tensor of serialized tf.Examples.
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details().startswith("No classification inputs found in SignatureDef: ")
    assert len(client.recommend(["u1"], 3)[0]) == 3
