"""The worked example of docs/your-data.md, through the command line: the shop CSV files of
examples/shop with pipelines/configs/example_csv.yaml are checked, trained on (MiniLM text and
EfficientNet-Lite0 images, cached), evaluated against popularity, exported and recommended from."""

import json
import pathlib

import pytest

from tfrec.cli import main

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = "pipelines/configs/example_csv.yaml"


@pytest.fixture
def in_repo_root(monkeypatch):
    """The config's paths are relative to the working directory, as the docs run it."""
    monkeypatch.chdir(REPO_ROOT)


def test_the_shop_example_from_files_to_recommendations(in_repo_root, tmp_path, capsys):
    assert main(["data", "check", "--config", CONFIG]) == 0
    check = capsys.readouterr().out
    assert "shop: 2,066 interactions, 150 users, 60 items" in check
    assert "user_id <- customer_id, item_id <- sku, timestamp <- ordered_at, rating <- stars" in check
    assert "text <- description (56 of 60 items have a text)" in check
    assert "image_path <- picture (48 of 60 items have a readable image)" in check
    assert "split (temporal): 1,766 train, 150 validation, 150 test interactions" in check
    assert "text (minilm, 56 of 60 items), images (lite0, 48 of 60 items)" in check
    assert "warning" not in check

    run, base = tmp_path / "shop", tmp_path / "saved_models"
    assert main(["train", "--config", CONFIG, "--run", str(run)]) == 0
    assert main(["evaluate", "--run", str(run)]) == 0
    capsys.readouterr()
    warm = json.loads((run / "evaluation.json").read_text())["warm"]
    # Customers prefer topics whose items share words and colours; the model must find that out.
    # Popularity and chance (10 of 60 items) reach about 0.17 recall@10.
    assert warm["shop"]["recall@10"] > max(2 * warm["popularity"]["recall@10"], 0.4), warm
    assert warm["shop"]["ndcg@10"] > 2 * warm["popularity"]["ndcg@10"], warm

    assert main(["export", "--run", str(run), "--base", str(base)]) == 0
    assert (base / "retrieval" / "1" / "saved_model.pb").exists()
    titles = json.loads((base / "retrieval" / "1" / "assets.extra" / "items.json").read_text())
    assert titles["SKU-101"] == "Classic grinder"

    capsys.readouterr()
    assert main(["recommend", "--base", str(base), "--user", "C0001", "--user", "newcomer", "--k", "5"]) == 0
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines() if line.strip()[:2] in {f"{r}." for r in range(1, 6)}]
    assert len(lines) == 10 and all(line[1].startswith("SKU-") and line[1] in titles for line in lines)
    assert "top 5 for user newcomer" in out
