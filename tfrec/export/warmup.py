"""SavedModel warm-up records: ``assets.extra/tf_serving_warmup_requests``.

TF Serving runs the requests in this file when it loads a version and only
then marks the version AVAILABLE, so the first real request does not pay for
lazy initialisation (graph optimisation, kernel selection, table
initialisation). The file is a TFRecord of serialised ``PredictionLog``
messages, each with ``predict_log.request`` set to a real ``PredictRequest``.
A failing warm-up request fails the load, and more than 1000 records are
refused, so the requests written here are small, valid and built from real
user ids of the training data. The development server replays them too.
"""

from __future__ import annotations

import os
import tempfile

import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000  # TF Serving's WarmupConsts::kMaxNumRecords


def warmup_requests(model_name: str, signature_name: str, columns: dict,
                    batch_sizes=(1, 4, 16)) -> list[predict_pb2.PredictRequest]:
    """One request of ``signature_name`` per batch size.

    ``columns`` maps each input to ``(dtype, rows)``: the values of one row
    each (a scalar, or a list for an input with more dimensions), cycled to
    fill each batch, so every request is real data at every batch size the
    server should be ready for.
    """
    requests = []
    for name, (_, rows) in columns.items():
        if not len(rows):
            raise ValueError(f"warm-up requests of {model_name} '{signature_name}' need at least one {name}")
    for size in batch_sizes:
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
        for name, (dtype, rows) in columns.items():
            batch = [rows[i % len(rows)] for i in range(size)]
            request.inputs[name].CopyFrom(tf.make_tensor_proto(batch, dtype=dtype))
        requests.append(request)
    return requests


def write_warmup_requests(saved_model_dir: str, requests) -> str:
    """Writes ``requests`` into ``<saved_model_dir>/assets.extra/tf_serving_warmup_requests``.

    The file is written beside its final name and renamed, so a reader never
    sees half of it. Returns its path.
    """
    requests = list(requests)
    if not 0 < len(requests) <= MAX_RECORDS:
        raise ValueError(f"TF Serving accepts 1 to {MAX_RECORDS} warm-up records, got {len(requests)}")
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tf_serving_warmup_requests.tmp-", dir=os.path.dirname(path))
    os.close(fd)
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for request in requests:
                log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_warmup_requests(saved_model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """The warm-up records of a SavedModel folder (empty when it has none)."""
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    logs = []
    for i, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        if i >= MAX_RECORDS:
            raise ValueError(f"{path}: more than {MAX_RECORDS} warm-up records (TF Serving refuses them)")
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        logs.append(log)
    return logs
