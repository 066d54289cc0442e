"""Feedback → retrain → new version: the store's events are the new data of a warm start."""

from __future__ import annotations

import json

import numpy as np

from tfrec.cli import main
from tfrec.data.trained_data import TrainedData
from tfrec.events import Event, open_store
from tfrec.run_folder import RunFolder


def test_a_warm_start_trains_on_the_stores_events_once_and_exports(tiny_run, tmp_path, capsys):
    store_spec = str(tmp_path / "events.sqlite")
    before = TrainedData.load(RunFolder(tiny_run).data_dir).dataset
    assert main(["events", "seed", "--store", store_spec, "--run", str(tiny_run)]) == 0
    latest = int(before.interactions.timestamp.max())
    with open_store(store_spec) as store:
        seeded = store.count()
        store.add_many([Event("brand-new-user", "i1", latest + 1), Event("brand-new-user", "i2", latest + 2),
                        Event("u1", "i3", latest + 3), Event("u1", "not-in-the-catalogue", latest + 4)])
    run, base = tmp_path / "warm", tmp_path / "saved_models"
    assert main(["train", "--warm-start", str(tiny_run), "--run", str(run), "--events", store_spec,
                 "--set", "train.epochs=1", "--export", str(base)]) == 0
    out = capsys.readouterr().out
    # The seed is already in the data, the unknown item has nothing to learn from: three new interactions.
    assert f"3 new interaction(s) of 2 user(s) added; {seeded:,} already in the data, 1 of items outside" in out
    after = TrainedData.load(RunFolder(run).data_dir).dataset
    assert len(after.interactions) == len(before.interactions) + 3
    assert "brand-new-user" in set(after.users.user_id)
    vocabularies = json.loads((run / "vocabularies.json").read_text())
    assert "brand-new-user" in vocabularies["user_id"]
    assert (base / "retrieval" / "1" / "saved_model.pb").exists()
    # The new version knows the new user's items as seen: they are not recommended back.
    from tfrec.serving.saved_model_recommender import SavedModelRecommender

    (recs,) = SavedModelRecommender(str(base)).recommend(["brand-new-user"], 10)
    assert len(recs) == 10 and not {"i1", "i2"} & {r.item_id for r in recs}
    assert np.isfinite([r.score for r in recs]).all()


def test_events_and_a_sharded_source_do_not_mix(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data: {source: sharded, path: somewhere, events: e.sqlite}\n")
    assert main(["data", "check", "--config", str(config)]) == 2
    assert "events join in-memory sources" in capsys.readouterr().err
