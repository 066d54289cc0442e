"""Loading a user's own CSV/Parquet files with a column mapping."""

import os

import pandas as pd
import pytest

from tfrec.data.tabular import ColumnMapping, load_tabular
from tfrec.data.validation import BadRowError

MAPPING = ColumnMapping(
    user_id="uid", item_id="sku", timestamp="when", rating="stars",
    title="name", text="description", image_path="picture",
    item_categorical=["category"], user_categorical=["country"], user_numeric=["age"],
)


def write_files(folder, events=None):
    (folder / "img").mkdir()
    (folder / "img" / "a.jpg").write_bytes(b"\xff\xd8")
    (folder / "events.csv").write_text(events if events is not None else (
        "uid,sku,when,stars\n"
        "u1,A,2021-03-01T10:00:00Z,5\n"
        "u1,B,1614600000,3.5\n"
        "u2,A,1614600001,4\n"
        "u2,A,1614600001,4\n"      # duplicate
        "u3,Z,1614600002,1\n"))    # item Z and user u3 are not in their tables
    (folder / "items.csv").write_text(
        "sku,name,description,picture,category\n"
        'A,Alpha,"Long, text",img/a.jpg,x|y\n'
        "B,Beta,,img/missing.jpg,y\n"
        "B,Beta again,,,z\n", encoding="utf-8")
    (folder / "users.csv").write_text("uid,country,age\nu1,FR,31\nu2,DE,45\n")
    return folder / "events.csv", folder / "items.csv", folder / "users.csv"


def test_csv_with_mapping(tmp_path):
    events, items, users = write_files(tmp_path)
    dataset, report = load_tabular(events, items, users, mapping=MAPPING, name="shop")
    assert dataset.name == "shop"
    assert len(dataset.interactions) == 4 and report.duplicates_dropped == 1
    assert dataset.interactions.timestamp.tolist()[0] == 1614592800
    assert dataset.interactions.rating.tolist()[1] == 3.5
    table = dataset.items.set_index("item_id")
    assert table.loc["A"].text == "Long, text" and table.loc["A"].category == "x|y"
    assert table.loc["A"].image_path == str(tmp_path / "img" / "a.jpg")
    assert table.loc["B"].title == "Beta" and table.loc["B"].image_path == ""
    assert table.loc["Z"].title == "" and report.items_added == 1
    assert report.users_added == 1
    assert dataset.users.set_index("user_id").loc["u3"].age == 0.0
    assert report.duplicate_rows == 1
    assert report.items_missing_image == 2 and report.items_missing_text == 2
    assert report.rows_read == (report.rows_kept + report.total_skipped + report.duplicates_dropped
                                + report.duplicate_rows)
    assert "added with empty content: 1 items, 1 users" in report.format()


def test_interactions_only_are_implicit(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text("user_id,item_id,timestamp\n1,10,100\n2,10,200\n")
    dataset, report = load_tabular(path)
    assert dataset.interactions.rating.tolist() == [1.0, 1.0]
    assert sorted(dataset.items.item_id) == ["10"] and sorted(dataset.users.user_id) == ["1", "2"]
    assert report.items_missing_text == 1


def test_parquet_rows_are_numbered(tmp_path):
    frame = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [7.0, 8.0, 9.0],
                          "timestamp": pd.to_datetime(["2021-01-01", "2021-01-02", "2021-01-03"]),
                          "rating": [1.0, float("nan"), 2.0]})
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    with pytest.raises(BadRowError, match=r"events.parquet row 2, column 'rating': is NaN"):
        load_tabular(path, mapping={"rating": "rating"})
    dataset, report = load_tabular(path, mapping={"rating": "rating"}, skip_bad_rows=True)
    assert dataset.interactions.item_id.tolist() == ["7", "9"]
    assert dataset.interactions.timestamp.tolist() == [1609459200, 1609632000]
    assert report.rows_skipped == {"bad rating": 1}


@pytest.mark.parametrize("events, line, column, reason", [
    ("uid,sku,stars\nu1,A,5\n", 1, "when", "missing from the header"),
    ("uid,sku,when,stars\nu1,A,100,5\nu1,B,100\n", 3, "stars", "has 3 fields"),
    ("uid,sku,when,stars\nu1,A,100,five\n", 2, "stars", "is not a number"),
    ("uid,sku,when,stars\nu1,A,100,-2\n", 2, "stars", "below the minimum"),
    ("uid,sku,when,stars\nu1,A,100,5\nu1,A,3000-01-01,5\n", 3, "when", "above the maximum"),
    ("uid,sku,when,stars\nu1,A,not-a-date,5\n", 2, "when", "ISO-8601"),
    ("uid,sku,when,stars\n,A,100,5\n", 2, "uid", "is empty"),
])
def test_broken_csv_names_file_line_and_column(tmp_path, events, line, column, reason):
    events_path, items, users = write_files(tmp_path, events=events)
    with pytest.raises(BadRowError) as info:
        load_tabular(events_path, items, users, mapping=MAPPING)
    e = info.value
    assert (e.path, e.line, e.column) == (str(events_path), line, column)
    assert reason in str(e)


def test_semicolon_file_is_reported_as_wrong_delimiter(tmp_path):
    events, items, users = write_files(tmp_path, events="uid;sku;when;stars\nu1;A;100;5\n")
    with pytest.raises(BadRowError, match=r"line 1: has 1 column.*semicolon"):
        load_tabular(events, items, users, mapping=MAPPING)


def test_skip_bad_rows_counts(tmp_path):
    events, items, users = write_files(tmp_path, events=(
        "uid,sku,when,stars\nu1,A,100,5\nu1,B,abc,5\nu2,A,100,inf\nu2,B,100\nu2,B,200,2\n"))
    dataset, report = load_tabular(events, items, users, mapping=MAPPING, skip_bad_rows=True)
    assert len(dataset.interactions) == 2
    assert report.rows_skipped == {"bad when": 1, "bad stars": 1, "wrong number of fields": 1}
    assert len(report.skipped_messages) == 3


def test_mapped_item_columns_need_an_items_file(tmp_path):
    events, _, _ = write_files(tmp_path)
    with pytest.raises(ValueError, match="no items file"):
        load_tabular(events, mapping=ColumnMapping(user_id="uid", item_id="sku", timestamp="when",
                                                   title="name"))


def test_absolute_image_paths_are_kept(tmp_path):
    events, items, users = write_files(tmp_path)
    picture = os.path.abspath(tmp_path / "img" / "a.jpg")
    items.write_text(f"sku,name,description,picture,category\nA,Alpha,,{picture},x\n")
    dataset, _ = load_tabular(events, items, users, mapping=MAPPING)
    assert dataset.items.set_index("item_id").loc["A"].image_path == picture
