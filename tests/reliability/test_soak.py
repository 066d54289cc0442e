"""A bounded soak: 32 clients on loopback for TFREC_SOAK_SECONDS (default 10) with zero errors.

Every client thread sends recommend requests back to back for the whole
period; every answer is checked against the model's answer for that user.
The test reports throughput and latency percentiles, and fails on any error,
any wrong answer, or server memory growth beyond a bound. Set
``TFREC_SOAK_SECONDS=60`` for the long run (capped at 600 s).
"""

from __future__ import annotations

import collections
import os
import threading
import time

import numpy as np

from tests.reliability.tally import TALLY
from tfrec.serving.client import ServingClient

CLIENTS = 32
SECONDS = min(float(os.environ.get("TFREC_SOAK_SECONDS", "10")), 600.0)
USERS = [f"u{i}" for i in range(1, 65)]
RSS_GROWTH_LIMIT_MB = 150


def test_soak_with_zero_errors(server_process):
    with ServingClient(server_process.target, timeout_s=10) as client:
        client.wait_until_available("retrieval", timeout_s=60)
        reference = {u: [item for item, _ in recs] for u, recs in zip(USERS, client.recommend(USERS, k=10))}
        client.recommend(USERS[:2], k=10)  # warm
    rss_before = server_process.rss_mb()
    latencies, errors, wrong = [], collections.Counter(), []
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def run_client(index):
        mine = []
        with ServingClient(server_process.target, timeout_s=10, retries=0) as c:
            i = index
            while time.monotonic() < deadline:
                user = USERS[i % len(USERS)]
                i += CLIENTS
                started = time.perf_counter()
                try:
                    got = [item for item, _ in c.recommend([user], k=10)[0]]
                except Exception as e:  # noqa: BLE001 - every error is a finding
                    with lock:
                        errors[type(e).__name__ + ": " + str(e)[:120]] += 1
                    continue
                mine.append(time.perf_counter() - started)
                if got != reference[user]:
                    wrong.append(user)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run_client, args=(n,), daemon=True) for n in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 60)
    elapsed = time.monotonic() - started
    rss_after = server_process.rss_mb()
    assert not errors, errors.most_common(3)
    assert not wrong, wrong[:5]
    assert server_process.alive()
    assert rss_after - rss_before < RSS_GROWTH_LIMIT_MB, (rss_before, rss_after)
    ms = np.asarray(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    assert len(ms) > CLIENTS * 5
    TALLY.add("load", f"soak: {CLIENTS} clients x {SECONDS:.0f} s, k=10, loopback", requests=len(ms),
              errors=0, wrong=0, rps=round(len(ms) / elapsed), p50_ms=round(p50, 1), p95_ms=round(p95, 1),
              p99_ms=round(p99, 1), max_ms=round(float(ms.max()), 1), rss_growth_mb=round(rss_after - rss_before))
