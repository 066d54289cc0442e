"""A click changes the next recommendation: after a few events on a topic, a user's top 10 moves toward
it, with no retraining and no export, in this process and over gRPC, and each item says why."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tfrec.cli import main
from tfrec.events import Event, open_store
from tfrec.events.feedback import seed_from_run
from tfrec.events.recent import with_latest_events
from tfrec.export.retrieval_export import export_retrieval
from tfrec.export.serving_config import write_serving_files
from tfrec.serving.client import ServingClient
from tfrec.serving.model_server import ModelServer
from tfrec.serving.saved_model_recommender import SavedModelRecommender
from tfrec.training.experiment import Experiment

QUIET = {"log": lambda *_: None}
CLICKS = 6  # events on the new topic, in a history of 8
USERS = ["u1", "u2", "u3", "u4", "u5", "u6"]


@pytest.fixture(scope="module")
def world(topic_run, tmp_path_factory):
    """The sequential model exported once, and the catalogue's topics (the items' categories)."""
    exp = Experiment.from_run(str(topic_run), **QUIET)
    base = tmp_path_factory.mktemp("saved_models")
    export_retrieval(exp, exp.load_model(str(topic_run)), str(base), max_k=40, **QUIET)
    write_serving_files(str(base))
    items = exp.dataset.items
    topic = dict(zip(items.item_id, items.category))
    popular = exp.split.train.item_id.value_counts().index
    return str(topic_run), str(base), topic, popular


def _share(recs, topic, wanted) -> float:
    return float(np.mean([topic.get(item) == wanted for item in recs])) if recs else 0.0


def _shift(world, store_spec, recommend):
    """For each user, the top-10 share of the topic they least get, before and after CLICKS events on it."""
    run, _, topic, popular = world
    with open_store(store_spec) as store:
        seed_from_run(store, run, **QUIET)
        before = with_latest_events(recommend, USERS, store, 8)
        shares = []
        for user, recs in zip(USERS, before):
            items = [r.item_id for r in recs]
            counts = {t: _share(items, topic, t) for t in set(topic.values())}
            wanted = min(sorted(counts), key=counts.get)
            clicks = [i for i in popular if topic[i] == wanted][:CLICKS]
            latest = max(e.timestamp for e in store.events() if e.user_id == user)
            store.add_many([Event(user, item, latest + 1 + n) for n, item in enumerate(clicks)])
            (after,) = with_latest_events(recommend, [user], store, 8)
            shares.append((counts[wanted], _share([r.item_id for r in after], topic, wanted), clicks, after))
    return shares


def test_events_move_the_top_10_toward_their_topic_in_process(world, store_spec):
    _, base, _, _ = world
    recommender = SavedModelRecommender(base)
    shares = _shift(world, store_spec, lambda users, histories=None: recommender.recommend(users, 10, histories))
    before, after = np.mean([s[0] for s in shares]), np.mean([s[1] for s in shares])
    print(f"top-10 share of the clicked topic: {before:.2f} before, {after:.2f} after {CLICKS} events:", [s[:2] for s in shares])
    assert after >= before + 0.3, shares
    assert sum(s[1] > s[0] for s in shares) >= len(shares) - 1
    for _, _, clicks, recs in shares:  # the reasons name what the user just did, where it counts
        named = [r.because for r in recs if r.because]
        assert named and set(named) <= set(clicks) | set(named), named
        assert any(b in clicks for b in named)


def test_events_move_the_top_10_over_grpc_and_the_command_prints_why(world, store_spec, capsys):
    _, base, topic, _ = world
    server = ModelServer(base=base, port=0, poll_seconds=0)
    port = server.start()
    try:
        with ServingClient(f"127.0.0.1:{port}", timeout_s=20) as client:
            client.wait_until_available("retrieval")
            from tfrec.serving.saved_model_recommender import recommendations

            def recommend(users, histories=None):
                return recommendations(client.retrieve(users, 10, histories=histories)[0], {})

            shares = _shift(world, store_spec, recommend)
        before, after = np.mean([s[0] for s in shares]), np.mean([s[1] for s in shares])
        assert after >= before + 0.3, shares
        # The command: the user's latest events (the clicks above) make the reasons.
        status = main(["recommend", "--server", f"127.0.0.1:{port}", "--user", USERS[0], "--k", "10",
                       "--events", store_spec])
        out = capsys.readouterr().out
        assert status == 0
        reasons = re.findall(r"because of (\S+)", out)
        assert reasons and set(reasons) & set(shares[0][2]), out
    finally:
        server.stop(grace_seconds=1.0)


def test_without_events_the_export_speaks(world, tmp_path, capsys):
    _, base, _, _ = world
    empty = str(tmp_path / "empty.sqlite")
    assert main(["recommend", "--base", base, "--user", "u1", "--k", "5", "--events", empty]) == 0
    with_store = capsys.readouterr().out
    assert main(["recommend", "--base", base, "--user", "u1", "--k", "5"]) == 0
    assert capsys.readouterr().out == with_store


def test_events_for_a_model_without_history_are_one_clear_line(tmp_path, capsys, tiny_run):
    exp = Experiment.from_run(str(tiny_run), **QUIET)
    base = tmp_path / "saved_models"
    export_retrieval(exp, exp.load_model(str(tiny_run)), str(base), max_k=20, **QUIET)
    store_spec = str(tmp_path / "events.sqlite")
    with open_store(store_spec) as store:
        store.add("u1", "i1", 5)
    assert main(["recommend", "--base", str(base), "--user", "u1", "--events", store_spec]) == 2
    assert "reads no history" in capsys.readouterr().err
