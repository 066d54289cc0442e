"""Two-stage recommendation: retrieve candidates, rank, return N distinct unseen items by score."""

import numpy as np
import pytest

from tfrec.errors import UserError
from tfrec.serving.two_stage import TwoStageRecommender, two_stage


def test_core_drops_unavailable_and_repeated_candidates_and_orders_by_score():
    def retrieve(users, k):
        ids = np.array([["a", "b", "a", "c", "d"]] * len(users), dtype=object)[:, :k]
        scores = np.array([[5, 4, 3, -np.inf, 1]] * len(users), np.float32)[:, :k]
        return ids, scores

    def rank(users, items, retrieval_scores):
        return np.array([{"a": 0.1, "b": 0.9, "d": 0.5}[i] for i in items])

    (recs,) = two_stage(retrieve, rank, ["u"], n=3, candidates=5)
    assert [r.item_id for r in recs] == ["b", "d", "a"]
    assert [r.retrieval_rank for r in recs] == [2, 5, 1]
    with pytest.raises(UserError, match="cannot return 6 items from 5 candidates"):
        two_stage(retrieve, rank, ["u"], n=6, candidates=5)


def test_exported_models_give_distinct_unseen_items_ordered_by_score(two_stage_base, tiny_run):
    from tfrec.training.experiment import Experiment

    exp = Experiment.from_run(str(tiny_run), log=lambda *_: None)
    users = list(exp.split.test.user_id.unique()[:5]) + ["unknown-user"]
    recommender = TwoStageRecommender(str(two_stage_base))
    results = recommender.recommend(users, n=5, candidates=30)
    seen = exp.dataset.interactions.groupby("user_id").item_id.apply(set)
    retrieved = recommender.retrieval.raw(users, 30)
    for user, recs, candidates in zip(users, results, retrieved["item_ids"]):
        ids = [r.item_id for r in recs]
        assert len(ids) == 5 and len(set(ids)) == 5
        assert not set(ids) & seen.get(user, set())
        assert set(ids) <= {c.decode() for c in candidates}
        scores = [r.score for r in recs]
        assert scores == sorted(scores, reverse=True)
        # The ranker's top 5 of the 30 candidates: no candidate outside scores higher.
        all_scores = recommender.rank([user] * 30, [c.decode() for c in candidates],
                                      retrieved["scores"][users.index(user)])
        assert min(scores) >= np.sort(all_scores)[-5] - 1e-6


def test_too_many_candidates_is_a_clear_error(two_stage_base):
    recommender = TwoStageRecommender(str(two_stage_base))
    with pytest.raises(UserError, match=r"k must be between 1 and 40 \(the model's max_k\), got 41$"):
        recommender.recommend(["u1"], n=5, candidates=41)  # the retrieval export's max_k is 40


def test_cli_two_stage(two_stage_base, capsys):
    from tfrec.cli import main

    assert main(["recommend", "--user", "u1", "--two-stage", "--candidates", "20", "--k", "3",
                 "--base", str(two_stage_base)]) == 0
    out = capsys.readouterr().out
    assert "ranking version 1" in out and "top 3 for user u1" in out
    assert len([line for line in out.splitlines() if "retrieved #" in line]) == 3


@pytest.mark.parametrize("kind", ["dev", "tensorflow_model_server"])
def test_grpc_two_stage_matches_in_process(kind, two_stage_base):
    from tests.serving.conftest import start_server
    from tfrec.export.serving_config import write_serving_files
    from tfrec.serving.client import ServingClient
    from tfrec.serving.two_stage import grpc_stages

    write_serving_files(str(two_stage_base))
    running = start_server(kind, str(two_stage_base))
    try:
        with ServingClient(running.target, timeout_s=10.0, retries=2) as client:
            client.wait_until_available("ranking", timeout_s=60)
            remote = two_stage(*grpc_stages(client), ["u1", "u2"], n=4, candidates=20)
    finally:
        running.stop()
    local = TwoStageRecommender(str(two_stage_base)).recommend(["u1", "u2"], n=4, candidates=20)
    for got, want in zip(remote, local):
        assert [r.item_id for r in got] == [r.item_id for r in want]
        np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-5)


def test_two_stage_reads_the_events_where_a_stage_has_a_history(two_stage_base, tmp_path, capsys):
    """The tiny two-stage pair: retrieval without a history, a ranker with one. The events reach the
    ranker (its order and reasons change); retrieval answers from what it was exported with."""
    from tfrec.cli import main
    from tfrec.events import Event, open_store

    store_spec = str(tmp_path / "events.sqlite")
    argv = ["recommend", "--base", str(two_stage_base), "--user", "u1", "--two-stage", "--candidates", "20",
            "--k", "5"]
    assert main(argv) == 0
    without = capsys.readouterr().out
    with open_store(store_spec) as store:
        store.add_many([Event("u1", item, 10 + n) for n, item in enumerate(["i3", "i7", "i11", "i19"])])
    assert main([*argv, "--events", store_spec]) == 0
    with_events = capsys.readouterr().out
    assert with_events != without
    assert "because of" in with_events
    events = ["i3", "i7", "i11", "i19"]
    (recs,) = TwoStageRecommender(str(two_stage_base)).recommend(["u1"], 5, 20, histories=[events])
    named = {r.because for r in recs} - {""}
    assert named and named <= set(events)  # the ranker's reasons come from the history it was given



def _printed(out):
    """``(item id, rest of the line)`` of each printed recommendation, the score left out."""
    rows = []
    for line in out.splitlines():
        rank, _, rest = line.strip().partition(". ")
        if rank.isdigit():
            item, _score, *tail = rest.split()
            rows.append((item, " ".join(tail)))
    return rows


def test_cli_two_stage_over_grpc_prints_the_titles_and_reasons_of_the_local_run(two_stage_base, capsys):
    from tests.serving.conftest import start_server
    from tfrec.cli import main
    from tfrec.export.serving_config import write_serving_files

    argv = ["recommend", "--user", "u1", "--two-stage", "--candidates", "20", "--k", "4", "--base",
            str(two_stage_base)]
    assert main(argv) == 0
    local = _printed(capsys.readouterr().out)
    write_serving_files(str(two_stage_base))
    running = start_server("dev", str(two_stage_base))
    try:
        assert main([*argv, "--server", running.target]) == 0
        remote = capsys.readouterr().out
    finally:
        running.stop()
    assert [item for item, _ in _printed(remote)] == [item for item, _ in local]
    assert all(title for _, title in local) and _printed(remote) == local  # titles (and reasons) as in-process
    assert "titles: " + str(two_stage_base / "retrieval" / "1") in remote
