"""``tfrec index add``: new items become retrievable without retraining."""

import shutil

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfrec.cli import main
from tfrec.data.tabular import ColumnMapping, load_items
from tfrec.evaluation.embedding_scorer import EmbeddingScorer, candidate_embeddings
from tfrec.export.versions import existing_versions
from tfrec.models.content import read_image_bytes
from tfrec.training.experiment import Experiment


@pytest.fixture(scope="module")
def trained(tiny_multimodal_run):
    exp = Experiment.from_run(str(tiny_multimodal_run), log=lambda *_: None)
    return exp, exp.load_model(str(tiny_multimodal_run))


def _new_items_csv(exp, path, ids):
    """New items whose content copies the first catalogue items (under new ids)."""
    source = exp.dataset.items.head(len(ids))
    frame = pd.DataFrame({"item_id": ids, "title": source.title.to_numpy(), "text": source.text.to_numpy(),
                          "image_path": source.image_path.to_numpy(),
                          **{c: source[c].to_numpy() for c in exp.dataset.item_categorical}})
    frame.to_csv(path, index=False)
    return path


def _everything(signature, user, k):
    out = signature(user_id=tf.constant([user]))
    return dict(zip(out["item_ids"].numpy()[0, :k].astype(str), out["scores"].numpy()[0, :k]))


def test_added_items_are_retrievable_with_the_in_memory_scores(tiny_multimodal_run, trained, tmp_path):
    exp, model = trained
    # index add records the added items in the run folder: work on a copy of the shared run.
    run, base = str(shutil.copytree(tiny_multimodal_run, tmp_path / "run")), tmp_path / "saved_models"
    size = len(exp.item_ids) + 4
    assert main(["export", "--run", run, "--base", str(base)]) == 0
    first = _new_items_csv(exp, tmp_path / "new.csv", ["brand-new-1", "brand-new-2"])
    assert main(["index", "add", "--run", run, "--items", str(first), "--base", str(base),
                 "--max-k", str(size)]) == 0
    assert existing_versions(str(base / "retrieval")) == [1, 2]

    served = _everything(tf.saved_model.load(str(base / "retrieval" / "2")).signatures["serving_default"],
                         "someone-new", len(exp.item_ids) + 2)
    assert {"brand-new-1", "brand-new-2"} <= set(served)
    items, _ = load_items(str(first), ColumnMapping(title="title", text="text", image_path="image_path",
                                                    item_categorical=exp.dataset.item_categorical))
    grown = exp.with_new_items(items, log=lambda *_: None)
    reference = EmbeddingScorer(model, grown.join, grown.item_ids)(["someone-new"])[0]
    for item in ("brand-new-1", "brand-new-2"):
        position = list(grown.item_ids).index(item)
        np.testing.assert_allclose(served[item], reference[position], rtol=1e-4, atol=1e-5)

    # The exported candidate encoder embeds the new items exactly as the index holds them.
    encoder = tf.saved_model.load(str(base / "candidate_encoder" / "1")).signatures["with_features"]
    embedded = encoder(item_id=tf.constant(items.item_id.tolist()), text=tf.constant(items.text.tolist()),
                       image=tf.constant(read_image_bytes(items.image_path)),
                       title=tf.constant(items.title.tolist()),
                       **{c: tf.constant(items[c].tolist()) for c in exp.dataset.item_categorical})
    in_memory = candidate_embeddings(model.candidate_tower, grown.join, items.item_id.to_numpy()).numpy()
    np.testing.assert_allclose(embedded["embedding"].numpy(), in_memory, rtol=1e-4, atol=1e-5)

    # A second addition keeps the first one.
    second = _new_items_csv(exp, tmp_path / "more.csv", ["brand-new-3", "brand-new-4"])
    assert main(["index", "add", "--run", run, "--items", str(second), "--base", str(base),
                 "--max-k", str(size)]) == 0
    served = _everything(tf.saved_model.load(str(base / "retrieval" / "3")).signatures["serving_default"],
                         "someone-new", size)
    assert {f"brand-new-{i}" for i in range(1, 5)} <= set(served)


def test_adding_an_existing_id_is_refused(tiny_multimodal_run, trained, tmp_path, capsys):
    exp, _ = trained
    csv = _new_items_csv(exp, tmp_path / "clash.csv", [exp.item_ids[0], "fresh"])
    assert main(["index", "add", "--run", str(tiny_multimodal_run), "--items", str(csv),
                 "--base", str(tmp_path / "sm")]) == 2
    assert "already in the catalogue" in capsys.readouterr().err
    assert not (tmp_path / "sm" / "retrieval").exists()


def test_a_sequential_content_run_exports_again_after_items_were_added(tiny_config_path, tmp_path):
    """The history tower's content table is sized by the trained catalogue, not the grown one."""
    import yaml

    from tfrec.config import RetrievalConfig, from_dict
    from tfrec.training.retrieval_trainer import train_retrieval

    values = yaml.safe_load(tiny_config_path.read_text())
    values["model"].update(yaml.safe_load(TINY_SEQUENTIAL_CONTENT))
    values["train"].update({"epochs": 1})
    run, base = str(tmp_path / "run"), tmp_path / "saved_models"
    train_retrieval(from_dict(RetrievalConfig, values), run, log=lambda *_: None)
    exp = Experiment.from_run(run, log=lambda *_: None)
    csv = _new_items_csv(exp, tmp_path / "new.csv", ["brand-new-1"])
    assert main(["index", "add", "--run", run, "--items", str(csv), "--base", str(base)]) == 0
    assert main(["export", "--run", run, "--base", str(base)]) == 0
    assert existing_versions(str(base / "retrieval")) == [1, 2]
    served = tf.saved_model.load(str(base / "retrieval" / "2")).signatures["with_history"]
    out = served(user_id=tf.constant(["someone-new"]), history=tf.constant([["brand-new-1", "", "", ""]]))
    assert out["item_ids"].shape[0] == 1


TINY_SEQUENTIAL_CONTENT = """
content: {mode: cached, text: {preset: tiny, sequence_length: 16}, image: {variant: tiny, image_size: 32},
          projection_dim: 8}
history: {length: 4, dim: 8, use_content: true}
"""
