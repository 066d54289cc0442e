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


def _write_books(folder, items_id_column="book_id"):
    """Another shop's files: Parquet reads (implicit, Unix seconds, integer reader ids), TSV books."""
    import pandas as pd

    (folder / "covers").mkdir()
    (folder / "covers" / "b1.png").write_bytes((REPO_ROOT / "examples" / "shop" / "images" / "sku-101.png").read_bytes())
    (folder / "covers" / "b2.jpg").write_text("<html>not found</html>")
    pd.DataFrame({"reader": [7, 7, 7, 8, 8, 9], "book_id": ["b1", "b2", "b3", "b1", "b3", "b2"],
                  "read_at": [1_700_000_000 + 3600 * i for i in range(6)]}).to_parquet(folder / "reads.parquet")
    (folder / "books.tsv").write_text(f"{items_id_column}\tname\tblurb\tcover\tgenre\n"
                                      "b1\tThe clue\tdetective alibi\tcovers/b1.png\tcrime\n"
                                      "b2\tLove letters\t\tcovers/b2.jpg\tromance|letters\n"
                                      "b3\tOrbit\trocket star\t\tspace\n")
    config = folder / "books.yaml"
    config.write_text(f"""
name: books
data:
  source: tabular
  tabular:
    interactions: {folder / 'reads.parquet'}
    items: {folder / 'books.tsv'}
    mapping: {{user_id: reader, item_id: book_id, timestamp: read_at, title: name, text: blurb,
               image_path: cover, item_categorical: [genre]}}
model:
  content: {{mode: cached, text: {{preset: tiny}}, image: {{variant: tiny, image_size: 32}}}}
""")
    return config


def test_data_check_of_parquet_and_tsv_says_what_landed_where(tmp_path, capsys):
    assert main(["data", "check", "--config", str(_write_books(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "rating: none (every interaction counts 1.0)" in out
    # b2's cover is an HTML page: no readable image, and a note names it
    assert "image_path <- cover (1 of 3 items have a readable image)" in out
    assert "text <- blurb (2 of 3 items have a text)" in out and "categorical genre (4 values)" in out
    assert "users: no file" in out and "ratings: all 1.0 (implicit)" in out
    assert "covers/b2.jpg is not a JPEG, PNG, GIF or BMP file" in out
    # users 8 and 9 have two reads each: too few to validate and test, so they stay in train
    assert "split (temporal): 4 train, 1 validation, 1 test interactions; 2 user(s) with fewer than 3" in out
    assert "model reads: user and item ids, item genre, title words, text (tiny, 2 of 3 items), images (tiny, 1 of 3" in out


def test_an_id_column_named_differently_in_the_items_file_is_one_line_saying_so(tmp_path, capsys):
    assert main(["data", "check", "--config", str(_write_books(tmp_path, items_id_column="book"))]) == 2
    err = capsys.readouterr().err
    assert "books.tsv line 1, column 'book_id': is missing from the header" in err
    assert "data.tabular.mapping.item_id names it (the id column has the same name" in err
    assert len(err.strip().splitlines()) == 1


def test_data_check_warns_when_nothing_can_be_tested(tmp_path, capsys):
    (tmp_path / "clicks.csv").write_text("user_id,item_id,timestamp\nu1,a,1\nu1,b,2\nu2,a,3\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{source: tabular, tabular: {{interactions: {tmp_path / 'clicks.csv'}}}}}\n")
    assert main(["data", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "warning: the split leaves no test interactions: nothing to evaluate (every user has fewer than 3" in out
