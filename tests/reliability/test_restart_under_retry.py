"""A server SIGKILLed and restarted on the same port while clients retry: no success is wrong.

Four client threads ask for recommendations in a loop through a
``ServingClient`` that retries UNAVAILABLE (with backoff capped at 0.5 s and a
budget longer than a restart). The server subprocess is SIGKILLed twice and
started again on the same port each time. Every request that the client
reported as successful must carry exactly the answer the model gives for that
user; a request may only fail by raising, never by returning something wrong,
and only with a transient status (a deadline or an unavailable server), which
a loaded machine can produce while a server restarts; such failures are
counted and must stay rare.
"""

from __future__ import annotations

import collections
import threading
import time

import grpc

from tests.reliability.server_process import ServerProcess
from tests.reliability.tally import TALLY
from tfrec.serving.client import ServingClient

CLIENTS = 4
RESTARTS = 2
USERS = [f"u{i}" for i in range(1, 41)]
RUN_LIMIT_S = 240


class CountingStub:
    """Wraps a stub's ``Predict`` to count every attempt and every UNAVAILABLE it met."""

    def __init__(self, stub, counts, lock):
        self._stub, self._counts, self._lock = stub, counts, lock

    def GetModelMetadata(self, *args, **kwargs):
        return self._stub.GetModelMetadata(*args, **kwargs)

    def Predict(self, request, timeout=None):
        with self._lock:
            self._counts["attempts"] += 1
        try:
            return self._stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            with self._lock:
                self._counts[f"attempt failed: {e.code().name}"] += 1
            raise


def test_restarts_lose_no_request_reported_as_successful(served_base, tmp_path):
    server = ServerProcess.start(served_base, str(tmp_path))
    port = server.port
    with ServingClient(server.target, timeout_s=10) as client:
        reference = {u: [item for item, _ in recs] for u, recs in zip(USERS, client.recommend(USERS, k=5))}
    counts, lock = collections.Counter(), threading.Lock()
    stop = threading.Event()
    wrong = []

    def run_client(index):
        with ServingClient(server.target, timeout_s=10, retries=80, backoff_s=0.05, max_backoff_s=0.5) as c:
            c._predict = CountingStub(c._predict, counts, lock)
            i = index
            while not stop.is_set():
                user = USERS[i % len(USERS)]
                i += CLIENTS
                try:
                    got = [item for item, _ in c.recommend([user], k=5)[0]]
                except Exception as e:  # noqa: BLE001 - the client was told it failed: counted, not lost
                    with lock:
                        counts["requests failed"] += 1
                        counts[f"failed: {getattr(getattr(e, 'code', None), 'name', type(e).__name__)}"] += 1
                    continue
                with lock:
                    counts["requests succeeded"] += 1
                if got != reference[user]:
                    wrong.append((user, got, reference[user]))

    threads = [threading.Thread(target=run_client, args=(n,), daemon=True) for n in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    downtime = []
    try:
        for _ in range(RESTARTS):
            time.sleep(1.5)
            before = counts["requests succeeded"]
            server.kill()
            down = time.monotonic()
            server = ServerProcess.start(served_base, str(tmp_path), port=port)
            downtime.append(time.monotonic() - down)
            assert server.port == port
            assert time.monotonic() - started < RUN_LIMIT_S
            assert counts["requests succeeded"] >= before
        time.sleep(1.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        server.stop()
    assert not wrong, wrong[:3]
    transient = counts["failed: DEADLINE_EXCEEDED"] + counts["failed: UNAVAILABLE"]
    assert counts["requests failed"] == transient, counts  # nothing but transient statuses
    assert counts["requests failed"] <= max(3, 0.01 * counts["requests succeeded"]), counts
    assert counts["attempt failed: UNAVAILABLE"] > 0, "the kills should have been noticed by the clients"
    assert counts["requests succeeded"] > 100
    TALLY.add("faults", "server SIGKILL + restart on the same port, x2", restarts=RESTARTS,
              requests_succeeded=counts["requests succeeded"], wrong_answers=len(wrong),
              requests_failed=counts["requests failed"],
              unavailable_attempts_retried=counts["attempt failed: UNAVAILABLE"],
              other_failed_attempts=sum(v for k, v in counts.items()
                                        if k.startswith("attempt failed") and "UNAVAILABLE" not in k),
              max_downtime_s=round(max(downtime), 1))
