"""A new version exported while clients hammer the server replaces the old one without a failed request."""

import threading
import time

import pytest

from tfrec.export.retrieval_export import export_retrieval
from tfrec.serving.client import ServingClient

from .conftest import MAX_K, SERVER_KINDS, export_base, require_server, start_server, wait_for

CLIENT_THREADS = 3
MAX_SECONDS = 40          # the whole load run, whatever happens
MAX_REQUESTS = 20_000     # per client thread


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_zero_failed_requests_while_version_2_is_exported_and_picked_up(kind, trained, tmp_path):
    require_server(kind)
    base = export_base(trained, tmp_path / "base")
    server = start_server(kind, base, poll_seconds=0.2 if kind == "dev" else 1.0)
    stop = threading.Event()
    started = time.monotonic()
    results = [[] for _ in range(CLIENT_THREADS)]  # (time, version) per successful request
    failures = []

    def hammer(out):
        with ServingClient(server.target, timeout_s=10.0, retries=0) as client:
            for i in range(MAX_REQUESTS):
                if stop.is_set() or time.monotonic() - started > MAX_SECONDS:
                    return
                try:  # plain lists: the client makes string and int32 TensorProtos of them
                    outputs, version = client.predict("retrieval", {"user_id": [f"u{i % 300}", "u1"]})
                    assert outputs["item_ids"].shape == (2, MAX_K)
                    out.append((time.monotonic(), version))
                except Exception as e:  # noqa: BLE001 - every failure is counted, none may happen
                    failures.append(repr(e))

    threads = [threading.Thread(target=hammer, args=(results[i],)) for i in range(CLIENT_THREADS)]
    try:
        for t in threads:
            t.start()
        assert wait_for(lambda: all(len(r) >= 5 for r in results), timeout_s=10)
        exp, model = trained
        export_retrieval(exp, model, base, max_k=MAX_K)
        exported_at = time.monotonic()
        assert wait_for(lambda: all(r and r[-1][1] == 2 for r in results), timeout_s=20), "version 2 never answered"
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=MAX_SECONDS)
        with ServingClient(server.target) as client:
            status = {s.version: s.state for s in client.model_status("retrieval")}
        server.stop()
    assert failures == [], failures[:5]
    versions = [v for r in results for _, v in r]
    assert set(versions) == {1, 2} and sum(len(r) for r in results) > 50
    assert all(r[-1][1] == 2 for r in results)
    assert status.get(2) == "AVAILABLE" and status.get(1, "END") == "END"
    # Once a client saw version 2 it never went back to version 1.
    for r in results:
        first_2 = next(i for i, (_, v) in enumerate(r) if v == 2)
        assert all(v == 2 for _, v in r[first_2:])
        assert r[first_2][0] >= exported_at - 1e-3
