"""The TF Serving files written next to the models parse back with TF Serving's protos."""

import os
import shutil

import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfrec.export.retrieval_export import RETRIEVAL_BATCHING
from tfrec.export.serving_config import (BATCHING_PARAMETERS, MODEL_BATCHING_PARAMS, MODELS_CONFIG, BatchingSettings,
                                         read_batching_parameters, read_models_config, write_serving_files)
from tfrec.export.warmup import WARMUP_FILE, read_warmup_requests, warmup_requests, write_warmup_requests
from tfrec.serving.servable_registry import ServableRegistry, State



def test_models_config_names_every_model_with_an_absolute_base_path(served_base):
    with open(os.path.join(served_base, MODELS_CONFIG)) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    entries = list(config.model_config_list.config)
    assert [e.name for e in entries] == ["retrieval"]
    assert entries[0].base_path == os.path.join(os.path.abspath(served_base), "retrieval")
    assert os.path.isabs(entries[0].base_path) and entries[0].model_platform == "tensorflow"
    assert read_models_config(os.path.join(served_base, MODELS_CONFIG)) == config


def test_models_config_for_a_container_uses_the_serving_base(served_base, tmp_path):
    models, _ = write_serving_files(served_base, serving_base="/models")
    try:
        entry = read_models_config(models).model_config_list.config[0]
        assert entry.base_path == "/models/retrieval"
    finally:
        write_serving_files(served_base)  # leave the shared base as the other tests expect it
    with pytest.raises(FileNotFoundError, match="no exported models"):
        write_serving_files(str(tmp_path))


def test_batching_parameters_parse_as_tf_servings_batching_parameters(served_base):
    parsed = read_batching_parameters(os.path.join(served_base, BATCHING_PARAMETERS))
    assert parsed.DESCRIPTOR.full_name == "tensorflow.serving.BatchingParameters"
    defaults = BatchingSettings()
    assert parsed.max_batch_size.value == defaults.max_batch_size
    assert parsed.batch_timeout_micros.value == defaults.batch_timeout_micros
    assert parsed.num_batch_threads.value == defaults.num_batch_threads
    assert parsed.max_enqueued_batches.value == defaults.max_enqueued_batches
    # The text is TF Serving's wrapper syntax, e.g. "max_batch_size { value: 1024 }".
    with open(os.path.join(served_base, BATCHING_PARAMETERS)) as f:
        assert f"max_batch_size {{\n  value: {defaults.max_batch_size}\n}}" in f.read()
    with pytest.raises(ValueError, match="max_batch_size"):
        BatchingSettings(max_batch_size=0)


def test_warmup_records_are_prediction_logs_of_real_users(served_base, trained):
    exp, _ = trained
    version_dir = os.path.join(served_base, "retrieval", "1")
    raw = list(tf.data.TFRecordDataset(os.path.join(version_dir, WARMUP_FILE)).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in raw]
    assert logs and logs == read_warmup_requests(version_dir)
    known_users = set(exp.dataset.interactions.user_id.astype(str))
    for log in logs:
        request = log.predict_log.request
        assert log.WhichOneof("log_type") == "predict_log"
        assert request.model_spec.name == "retrieval" and request.model_spec.signature_name == "serving_default"
        users = tf.make_ndarray(request.inputs["user_id"]).astype(str)
        assert users.ndim == 1 and set(users) <= known_users
        assert set(request.inputs) == {"user_id"}
    assert [len(tf.make_ndarray(log.predict_log.request.inputs["user_id"])) for log in logs] == [1, 4, 16]


def test_every_version_says_how_tf_serving_should_batch_it(served_base):
    """``<version>/batching_params.pbtxt``: what TF Serving reads with --enable_per_model_batching_parameters."""
    parsed = read_batching_parameters(os.path.join(served_base, "retrieval", "1", MODEL_BATCHING_PARAMS))
    assert parsed.max_batch_size.value == RETRIEVAL_BATCHING.max_batch_size
    assert parsed.batch_timeout_micros.value == RETRIEVAL_BATCHING.batch_timeout_micros


def test_a_version_whose_warmup_fails_is_never_served(served_base, tmp_path):
    """The broken version 2 is reported with its error; version 1 keeps serving."""
    base = tmp_path / "base"
    shutil.copytree(os.path.join(served_base, "retrieval", "1"), base / "retrieval" / "1")
    registry = ServableRegistry(base=str(base))
    registry.poll()
    assert registry.served() == {"retrieval": [1]}
    broken = tmp_path / "broken"
    shutil.copytree(base / "retrieval" / "1", broken)
    write_warmup_requests(str(broken), warmup_requests("retrieval", "serving_default", {
        "user_id": (tf.string, ["u1"]), "k": (tf.int32, [5])}))
    os.rename(broken, base / "retrieval" / "2")
    registry.poll()
    assert registry.served() == {"retrieval": [1]}
    status = dict(registry.status("retrieval"))
    assert status[1].state == State.AVAILABLE and status[2].state == State.END
    assert "warm-up request 0" in status[2].error and "unknown input 'k'" in status[2].error
