"""Server-side request batching: same answers as unbatched, TF Serving's limits, scalar inputs unbatched."""

import concurrent.futures
import logging
import threading
import types

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from tests.ranking.conftest import tiny_ranking_run  # noqa: F401  (the session fixture, reused here)
from tfrec.export.serving_config import BatchingSettings, write_batching_parameters
from tfrec.serving.client import ServingClient
from tfrec.serving.errors import ServingError
from tfrec.serving.model_server import ModelServer
from tfrec.serving.request_batcher import RequestBatcher, batching_from_args, batching_settings
from tfrec.serving.saved_model_recommender import SavedModelRecommender

from .conftest import MAX_K

QUIET = dict(log=lambda *_: None)


# -- a stand-in servable: one signature over a Python function -------------------------------------
def fake_servable(function, shape=(-1,)):
    signature = meta_graph_pb2.SignatureDef()
    info = signature.inputs["x"]
    info.dtype = tf.float32.as_datatype_enum
    if shape is None:
        info.tensor_shape.unknown_rank = True
    else:
        for d in shape:
            info.tensor_shape.dim.add(size=d)
    return types.SimpleNamespace(name="fake", version=1, functions={"serving_default": function},
                                 signature_defs={"serving_default": signature})


def doubled(x):
    return {"y": x * 2.0}


def settings(**overrides) -> BatchingSettings:
    values = dict(max_batch_size=8, batch_timeout_micros=0, num_batch_threads=1, max_enqueued_batches=10)
    return BatchingSettings(**{**values, **overrides})


def run(batcher, servable, values):
    return batcher.run(servable, "serving_default", {"x": tf.constant(values, tf.float32)})["y"]


def test_concurrent_requests_share_a_batch_and_get_their_own_rows():
    calls = []

    def recorded(x):
        calls.append(int(x.shape[0]))
        return doubled(x)

    servable = fake_servable(recorded)
    sizes = [1, 3, 2, 2]  # 8 rows: the batch is full when the last one arrives
    batcher = RequestBatcher(settings(batch_timeout_micros=5_000_000))
    try:
        with concurrent.futures.ThreadPoolExecutor(len(sizes)) as pool:
            futures = [pool.submit(run, batcher, servable, np.arange(n, dtype=np.float32) + 10 * i)
                       for i, n in enumerate(sizes)]
            results = [f.result(timeout=30) for f in futures]
    finally:
        batcher.close()
    assert calls == [8]  # one run of the model
    for i, (n, got) in enumerate(zip(sizes, results)):
        np.testing.assert_array_equal(got, (np.arange(n) + 10 * i) * 2.0)
    assert batcher.stats["batches"] == 1 and batcher.stats["requests"] == 4


def test_a_full_queue_is_unavailable_with_a_message():
    release = threading.Event()

    def blocked(x):
        release.wait(30)
        return doubled(x)

    servable = fake_servable(blocked)
    batcher = RequestBatcher(settings(max_batch_size=2, max_enqueued_batches=1))
    pool = concurrent.futures.ThreadPoolExecutor(3)
    try:
        running = pool.submit(run, batcher, servable, [1.0])  # taken by the only batch thread, which blocks
        assert _wait(lambda: batcher.stats["batches"] == 1)
        waiting = [pool.submit(run, batcher, servable, [2.0]), pool.submit(run, batcher, servable, [3.0])]
        assert _wait(lambda: batcher.stats["requests"] == 3)  # one full batch of 2 waits: the queue is full
        with pytest.raises(ServingError) as e:
            run(batcher, servable, [4.0])
        assert e.value.code == grpc.StatusCode.UNAVAILABLE
        assert "queue" in e.value.message and "full" in e.value.message and "max_enqueued_batches 1" in e.value.message
        release.set()
        assert running.result(timeout=30).tolist() == [2.0]
        assert [f.result(timeout=30).tolist() for f in waiting] == [[4.0], [6.0]]
    finally:
        release.set()
        pool.shutdown(wait=True)
        batcher.close()


def test_a_request_larger_than_max_batch_size_is_invalid_argument():
    batcher = RequestBatcher(settings(max_batch_size=4))
    try:
        with pytest.raises(ServingError) as e:
            run(batcher, fake_servable(doubled), np.zeros(5, np.float32))
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "Task size 5 is larger than maximum input batch size 4" in e.value.message
    finally:
        batcher.close()


def test_a_failing_request_fails_alone():
    def picky(x):
        tf.debugging.assert_non_negative(x, message="negative input")
        return doubled(x)

    servable = fake_servable(picky)
    batcher = RequestBatcher(settings(batch_timeout_micros=5_000_000, max_batch_size=3))
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(run, batcher, servable, [v]) for v in (1.0, -1.0, 2.0)]
            good, bad, other = futures
            assert good.result(timeout=30).tolist() == [2.0] and other.result(timeout=30).tolist() == [4.0]
            with pytest.raises(tf.errors.InvalidArgumentError, match="negative input"):
                bad.result(timeout=30)
    finally:
        batcher.close()
    assert batcher.stats["batches"] == 1


def test_scalar_or_unknown_rank_inputs_run_unbatched_and_are_logged_once(caplog):
    batcher = RequestBatcher(settings())
    try:
        with caplog.at_level(logging.INFO, logger="tfrec.serving"):
            for shape in ((), None):
                servable = fake_servable(doubled, shape)
                servable.name = f"fake{shape}"
                for _ in range(3):
                    assert run(batcher, servable, 3.0) == 6.0
    finally:
        batcher.close()
    assert batcher.stats["unbatched"] == 6 and batcher.stats["batches"] == 0
    assert sum("served unbatched" in r.getMessage() for r in caplog.records) == 2


def test_batching_parameters_file_and_flags(tmp_path):
    path = write_batching_parameters(str(tmp_path), BatchingSettings(max_batch_size=32, batch_timeout_micros=500,
                                                                     num_batch_threads=2, max_enqueued_batches=7))
    assert batching_settings(path) == BatchingSettings(32, 500, 2, 7)
    partial = tmp_path / "partial.txt"
    partial.write_text("max_batch_size { value: 128 }\n")
    read = batching_settings(str(partial))
    assert (read.max_batch_size, read.batch_timeout_micros, read.max_enqueued_batches) == (128, 0, 10)  # TF Serving's
    assert batching_from_args(types.SimpleNamespace(enable_batching=False, batching_parameters_file=None)) is None
    assert batching_from_args(types.SimpleNamespace(enable_batching=True, batching_parameters_file=path)).max_batch_size == 32
    with pytest.raises(ValueError, match="needs --enable-batching"):
        batching_from_args(types.SimpleNamespace(enable_batching=False, batching_parameters_file=path))

    from tfrec.cli import build_parser
    args = build_parser().parse_args(["serve", "--enable-batching", "--batching-parameters-file", path])
    assert args.enable_batching and args.batching_parameters_file == path


# -- over gRPC, with the exported models ------------------------------------------------------------
@pytest.fixture(scope="module")
def ranking_base(tiny_ranking_run, tmp_path_factory):  # noqa: F811
    from tfrec.export.ranking_export import export_ranking
    from tfrec.training.ranking_experiment import RankingExperiment

    base = tmp_path_factory.mktemp("batching_base")
    exp = RankingExperiment.from_run(str(tiny_ranking_run), **QUIET)
    export_ranking(exp, exp.load_model(str(tiny_ranking_run)), str(base))
    users = [str(u) for u in exp.base.dataset.interactions.user_id.unique()[:40]]
    items = [str(i) for i in exp.base.dataset.interactions.item_id.unique()[:40]]
    return str(base), users, items


def _serve(base, batching, workers=16):
    server = ModelServer(base=base, port=0, poll_seconds=0, max_workers=workers, batching=batching)
    return server, f"127.0.0.1:{server.start()}"


def _concurrently(target, calls):
    """Runs every ``call(client)`` at once, one channel each; their results in order."""
    barrier = threading.Barrier(len(calls))

    def one(call):
        with ServingClient(target, timeout_s=60.0, retries=0) as client:
            barrier.wait(30)
            return call(client)

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(timeout=120) for f in [pool.submit(one, c) for c in calls]]


def test_batched_ranking_results_equal_unbatched(ranking_base):
    base, users, items = ranking_base
    rng = np.random.default_rng(0)
    requests = []
    for size in (1, 5, 3, 8, 2, 7, 4, 6, 1, 3, 5, 2):  # 47 rows over 12 concurrent requests
        requests.append(([users[i] for i in rng.integers(0, len(users), size)],
                         [items[i] for i in rng.integers(0, len(items), size)]))
    requests[3][0][0] = "no-such-user"  # out-of-vocabulary ids batch like any other

    def call(user_ids, item_ids):
        return lambda client: client.predict("ranking", {
            "user_id": tf.make_tensor_proto(user_ids, dtype=tf.string),
            "item_id": tf.make_tensor_proto(item_ids, dtype=tf.string)})[0]

    total = sum(len(u) for u, _ in requests)
    answers = {}
    for batching in (None, BatchingSettings(max_batch_size=total, batch_timeout_micros=2_000_000,
                                            num_batch_threads=1, max_enqueued_batches=100)):
        server, target = _serve(base, batching)
        try:
            answers[batching is not None] = _concurrently(target, [call(u, i) for u, i in requests])
            if batching is not None:
                stats = dict(server.batcher.stats)
        finally:
            server.stop(grace_seconds=1.0)
    assert stats["requests"] == len(requests) and stats["batches"] < len(requests)  # requests were combined
    for unbatched, batched, (user_ids, _) in zip(answers[False], answers[True], requests):
        assert set(batched) == set(unbatched) == {"rating", "engagement", "score"}
        for name in unbatched:
            assert batched[name].shape == (len(user_ids),)
            np.testing.assert_allclose(batched[name], unbatched[name], rtol=1e-5, atol=1e-6)


def test_retrieval_requests_are_batched_and_answered_as_alone(served_base):
    """The retrieval signature has no scalar input, so concurrent requests share batches."""
    users = [["u1"], ["u2", "u17"], ["u250"], ["no-such-user", "u3"]]
    server, target = _serve(served_base, BatchingSettings(max_batch_size=64, batch_timeout_micros=200_000,
                                                          num_batch_threads=1, max_enqueued_batches=10))
    try:
        got = _concurrently(target, [lambda c, u=u: c.predict("retrieval", {
            "user_id": tf.make_tensor_proto(u, dtype=tf.string)})[0] for u in users])
        stats = dict(server.batcher.stats)
    finally:
        server.stop(grace_seconds=1.0)
    local = SavedModelRecommender(served_base)
    for u, outputs in zip(users, got):
        want = local.raw(u, MAX_K)
        np.testing.assert_array_equal(outputs["item_ids"], want["item_ids"])
        np.testing.assert_allclose(outputs["scores"], want["scores"], rtol=1e-6)
    assert stats.get("unbatched", 0) == 0 and stats["requests"] == len(users)
    assert stats["batches"] < len(users)


def _wait(condition, timeout_s: float = 30.0) -> bool:
    from .conftest import wait_for
    return wait_for(condition, timeout_s, interval_s=0.01)
