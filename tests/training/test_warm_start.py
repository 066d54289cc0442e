"""Continuous training: a run warm-started from a trained run on new data keeps the old
embeddings by id, grows the tables for new users and items, and exports a new version."""

import json

import numpy as np
import pytest

NEW_DATA = "{num_users: 360, num_items: 150, mean_interactions_per_user: 15, seed: 4, image_size: 16}"


@pytest.fixture(scope="module")
def warm_run(tiny_run, tmp_path_factory):
    from tfrec.cli import main

    folder = tmp_path_factory.mktemp("warm")
    run, base = folder / "run", folder / "saved_models"
    code = main(["train", "--warm-start", str(tiny_run), "--run", str(run), "--set", f"data.synthetic={NEW_DATA}",
                 "--set", "train.epochs=1", "--export", str(base)])
    assert code == 0
    return run, base


def _table(model, layer_name):
    return next(layer for layer in model.submodules if layer.name == layer_name and hasattr(layer, "lookup"))


def test_vocabularies_grow_and_keep_old_order(tiny_run, warm_run):
    old = json.loads((tiny_run / "vocabularies.json").read_text())
    new = json.loads((warm_run[0] / "vocabularies.json").read_text())
    for name, values in old.items():
        assert new[name][: len(values)] == values
    assert len(new["item_id"]) > len(old["item_id"]) and len(new["user_id"]) > len(old["user_id"])


def test_old_rows_are_copied_by_id_and_new_ids_start_from_the_oov_row(tiny_run, warm_run):
    from tfrec.data.pipeline import id_dataset
    from tfrec.training.experiment import Experiment
    from tfrec.training.warm_start import warm_start_weights

    old_model = Experiment.from_run(str(tiny_run), log=lambda *a: None).load_model(str(tiny_run))
    exp = Experiment.from_run(str(warm_run[0]), log=lambda *a: None)
    model = exp.build_model()
    batch = next(iter(id_dataset(exp.item_ids[:2], "item_id", exp.join, 2)))
    batch.update(next(iter(id_dataset(exp.split.train.user_id[:2], "user_id", exp.join, 2))))
    model.query_tower(batch), model.candidate_tower(batch)
    counts = warm_start_weights(model, str(tiny_run), log=lambda *a: None)
    assert counts["tables"] >= 2 and counts["new_rows"] > 0

    for name in ("item_id", "user_id", "item_title"):
        old_layer, new_layer = _table(old_model, name), _table(model, name)
        old_rows = old_layer.embedding.embeddings.numpy()
        new_rows = new_layer.embedding.embeddings.numpy()
        old_vocab = [str(v) for v in old_layer.lookup.get_vocabulary()]
        new_vocab = [str(v) for v in new_layer.lookup.get_vocabulary()]
        new_index = {v: i for i, v in enumerate(new_vocab)}
        for row, token in enumerate(old_vocab[1:], start=1):  # every old id keeps its embedding
            np.testing.assert_array_equal(new_rows[new_index[token]], old_rows[row])
        np.testing.assert_array_equal(new_rows[0], old_rows[0])  # the OOV bucket
        added = [new_index[t] for t in new_vocab[1:] if t not in set(old_vocab)]
        if name != "item_title":
            assert added
        for row in added:  # new ids start where the old model put unknown ids
            np.testing.assert_array_equal(new_rows[row], old_rows[0])


def test_warm_started_run_trains_evaluates_and_exports_a_new_version(warm_run):
    from tfrec.training.experiment import Experiment

    run, base = warm_run
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs_run"] == 1 and np.isfinite(summary["history"]["loss"]).all()
    assert summary["best_val_ndcg_at_10"] > 0.05  # far above random (10 of 150 items)
    exp = Experiment.from_run(str(run), log=lambda *a: None)
    exp.load_model(str(run))  # the grown tables load back through the run's own vocabularies
    assert "i150" in exp.vocabs["item_id"]
    assert (base / "retrieval" / "1" / "saved_model.pb").exists()


def test_grow_vocabularies_appends_only_new_values():
    from tfrec.data.vocabulary import Vocabularies
    from tfrec.training.warm_start import grow_vocabularies

    grown = grow_vocabularies(Vocabularies({"item_id": ["b", "a"], "gone": ["x"]}),
                              Vocabularies({"item_id": ["c", "a", "d"], "fresh": ["y"]}))
    assert grown.values == {"item_id": ["b", "a", "c", "d"], "gone": ["x"], "fresh": ["y"]}


def test_warm_start_refuses_its_own_folder_and_a_missing_run(tiny_run, tiny_config_path, tmp_path, capsys):
    from tfrec.cli import main

    assert main(["train", "--config", str(tiny_config_path), "--run", str(tiny_run),
                 "--warm-start", str(tiny_run)]) == 2
    assert "names the run being written" in capsys.readouterr().err
    assert main(["train", "--config", str(tiny_config_path), "--run", str(tmp_path / "new"),
                 "--warm-start", str(tmp_path / "missing")]) == 2
    assert f"train.warm_start: {tmp_path / 'missing'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
