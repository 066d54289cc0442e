"""Malformed, oversized and unknown requests to a ``tfrec serve`` process, alone and from 64 threads.

Each abusive request must be answered with the right status and a message
saying what was wrong (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION,
RESOURCE_EXHAUSTED), never with a crash, a hang or an INTERNAL error; the
server must keep answering good requests correctly in between, and its
resident memory, read from /proc, must stay bounded over repeated rounds.
"""

from __future__ import annotations

import collections
import concurrent.futures
import time

import grpc
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from tests.reliability.server_process import MAX_K
from tests.reliability.tally import TALLY
from tfrec.serving.client import ServingClient
from tfrec.serving.errors import ServingError

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
MB = 1024 * 1024
ROUNDS = 3
THREADS, CALLS_PER_THREAD = 64, 12
RSS_GROWTH_LIMIT_MB = 150


def users(*ids):
    return tf.make_tensor_proto(list(ids), dtype=tf.string, shape=[len(ids)])


def k(value):
    return tf.make_tensor_proto(value, dtype=tf.int32, shape=[])


def history(*rows):
    return tf.make_tensor_proto([list(r) for r in rows], dtype=tf.string)


def declared_shape_only(count: int):
    """A string tensor declaring ``count`` elements but carrying one: must not make the server allocate."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING,
                                   tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[{"size": count}]))
    proto.string_val.append(b"u1")
    return proto


def declared_one(value: bytes, count: int):
    """One string ``value`` declared as ``count`` elements: decoding would take ``count × len(value)`` bytes."""
    proto = declared_shape_only(count)
    proto.string_val[0] = value
    return proto


# (name, model, inputs, code, phrase in the message, extra predict kwargs)
ABUSE = [
    ("wrong dtype", "retrieval", {"user_id": tf.make_tensor_proto([1, 2], dtype=tf.int64)},
     INVALID, "must be DT_STRING", {}),
    ("wrong rank", "retrieval", {"user_id": tf.make_tensor_proto([["u1"]], dtype=tf.string)},
     INVALID, "must have shape", {}),
    ("scalar user_id", "retrieval", {"user_id": tf.make_tensor_proto("u1", dtype=tf.string)},
     INVALID, "must have shape [?]", {}),
    ("missing input", "retrieval", {}, INVALID, "missing input 'user_id'", {}),
    ("unknown input", "retrieval", {"user_id": users("u1"), "evil": users("x")},
     INVALID, "unknown input 'evil'", {}),
    ("a scalar k, as before", "retrieval", {"user_id": users("u1"), "k": k(2**31 - 1)},
     INVALID, "unknown input 'k'", {}),
    ("history for the model without one", "retrieval", {"user_id": users("u1"), "history": history(["i1"])},
     INVALID, "unknown input 'history'", {}),
    ("10 MB string", "retrieval", {"user_id": users("u" * (10 * MB))}, INVALID, "more than the limit", {}),
    ("20 MB message", "retrieval", {"user_id": users("a" * (20 * MB))},
     grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max", {}),
    ("declared 10^8 elements", "retrieval", {"user_id": declared_shape_only(10**8)},
     INVALID, "more than the limit", {}),
    ("declared 10^6 rows, one string", "retrieval", {"user_id": declared_shape_only(10**6)},
     INVALID, "more than the limit of 10000 rows", {}),
    ("1 MB string declared 1000 times", "retrieval", {"user_id": declared_one(b"u" * MB, 1000)},
     INVALID, "more than the limit", {}),
    ("unknown model", "no_such_model", {"user_id": users("u1")}, NOT_FOUND, "no_such_model", {}),
    ("unknown version", "retrieval", {"user_id": users("u1")}, NOT_FOUND, "version 99", {"version": 99}),
    ("unknown signature", "retrieval", {"user_id": users("u1")},
     grpc.StatusCode.FAILED_PRECONDITION, "nope", {"signature_name": "nope"}),
]


def call(client, name, model, inputs, kwargs):
    try:
        client.predict(model, inputs, **kwargs)
        return "OK", ""
    except ServingError as e:
        return e.code, e.message


def good(client, expected):
    outputs, _ = client.predict("retrieval", {"user_id": users("u1", "u2")})
    assert outputs["item_ids"].tolist() == expected


@pytest.fixture(scope="module")
def client(server_process):
    with ServingClient(server_process.target, timeout_s=30, retries=0, max_message_mb=64) as c:
        c.wait_until_available("retrieval", timeout_s=60)
        yield c


def test_each_abusive_request_gets_its_status_and_the_server_stays_bounded(server_process, client):
    expected, _ = client.predict("retrieval", {"user_id": users("u1", "u2")})
    expected = expected["item_ids"].tolist()
    codes = collections.Counter()
    rss = []
    for round_ in range(ROUNDS):
        for name, model, inputs, code, phrase, kwargs in ABUSE:
            got, message = call(client, name, model, inputs, kwargs)
            assert got == code, f"{name}: {got} {message[:300]}"
            assert phrase in message, f"{name}: {message[:300]}"
            codes[code.name] += 1
            good(client, expected)
        rss.append(server_process.rss_mb())
    assert server_process.alive()
    growth = rss[-1] - rss[0]
    assert growth < RSS_GROWTH_LIMIT_MB, f"server RSS grew {growth:.0f} MB over rounds: {rss}"
    TALLY.add("serving", "abusive requests (x3 rounds, good one after each)", kinds=len(ABUSE),
              sent=len(ABUSE) * ROUNDS, **codes, internal_errors=0, rss_mb=round(rss[-1]),
              rss_growth_mb=round(growth))


def test_amplification_is_refused_fast_without_memory_growth_and_a_good_request_follows(server_process, client):
    """A ~30-byte request declaring a million rows must be refused before anything is allocated."""
    expected = client.predict("retrieval", {"user_id": users("u1", "u2")})[0]["item_ids"].tolist()
    request = {"user_id": declared_shape_only(10**6)}
    assert request["user_id"].ByteSize() < 40
    before = server_process.rss_mb()
    started = time.monotonic()
    got, message = call(client, "amplification", "retrieval", request, {})
    elapsed = time.monotonic() - started
    growth = server_process.rss_mb() - before
    assert got == INVALID, (got, message)
    assert "'user_id'" in message and "[1000000]" in message and "10000 rows" in message, message
    assert elapsed < 0.1, f"refusal took {elapsed * 1000:.0f} ms"
    assert growth < 50, f"server RSS grew {growth:.1f} MB"
    good(client, expected)
    TALLY.add("serving", "amplification request ([1000000] declared, one string)",
              refusal_ms=round(elapsed * 1000, 1), rss_growth_mb=round(growth, 1))


def test_empty_batch_answers_empty_outputs(client):
    outputs, _ = client.predict("retrieval", {"user_id": users()})
    assert outputs["item_ids"].shape == (0, MAX_K) and outputs["scores"].shape == (0, MAX_K)


def test_64_concurrent_clients_mixing_good_and_bad_requests(server_process, client):
    expected = client.predict("retrieval", {"user_id": users("u1", "u2")})[0]["item_ids"].tolist()
    before = server_process.rss_mb()
    small = [a for a in ABUSE if "MB" not in a[0]]  # big payloads × 64 threads would only test the loopback

    def worker(index):
        seen = collections.Counter()
        with ServingClient(server_process.target, timeout_s=60, retries=0) as c:
            for i in range(CALLS_PER_THREAD):
                if i % 2:
                    name, model, inputs, code, phrase, kwargs = small[(index + i) % len(small)]
                    got, message = call(c, name, model, inputs, kwargs)
                    seen["expected error" if got == code and phrase in message else f"WRONG {name}: {got}"] += 1
                else:
                    outputs, _ = c.predict("retrieval", {"user_id": users("u1", "u2")})
                    seen["correct answer" if outputs["item_ids"].tolist() == expected else "WRONG answer"] += 1
        return seen

    started = time.monotonic()
    total = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        for seen in pool.map(worker, range(THREADS), timeout=300):
            total.update(seen)
    elapsed = time.monotonic() - started
    wrong = {key: v for key, v in total.items() if key.startswith("WRONG")}
    assert not wrong, wrong
    assert total["correct answer"] == THREADS * CALLS_PER_THREAD // 2
    assert server_process.alive()
    after = server_process.rss_mb()
    assert after - before < RSS_GROWTH_LIMIT_MB, (before, after)
    good(client, expected)
    TALLY.add("serving", f"{THREADS} concurrent clients, half abusive", requests=sum(total.values()),
              correct=total["correct answer"], expected_errors=total["expected error"], wrong=0,
              seconds=round(elapsed, 1), rss_growth_mb=round(after - before))
