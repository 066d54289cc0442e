"""MovieLens 100K loader: the real files, both layouts, and broken copies."""

import os
import shutil
import time

import numpy as np
import pytest

from tfrec.data.movielens import load_movielens_100k
from tfrec.data.validation import BadRowError

GENRES = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n" \
         "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\n" \
         "Romance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n"


def flags(*on):
    return "|".join("1" if i in on else "0" for i in range(19))


def write_small(folder, data=None, with_extras=True, genre_file=True):
    """A tiny MovieLens folder in the multimodal layout."""
    ml = folder / "ml-100k"
    ml.mkdir(parents=True)
    (ml / "u.data").write_text(data if data is not None else
                               "1\t10\t4\t881250949\n2\t20\t5\t881250950\n1\t20\t3\t881250951\n")
    (ml / "u.item").write_bytes(
        (f"10|Amélie (2001)|01-Jan-2001||http://x|{flags(5, 14)}\n"
         f"20|Unknown Date|||http://y|{flags(0)}\n").encode("latin-1"))
    (ml / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|T8H1N\n")
    if genre_file:
        (ml / "u.genre").write_text(GENRES)
    if with_extras:
        (folder / "tmdb_items.csv").write_text(
            'movie_id,title,overview\n10,A,""\n10,A,"A shy waitress, in Paris."\n20,B,Text B\n'
            "20,B,Other\n", encoding="utf-8")
        (folder / "posters").mkdir()
        (folder / "posters" / "10.jpg").write_bytes(b"\xff\xd8")
    return folder


def test_real_movielens(movielens_folder):
    start = time.perf_counter()
    dataset, report = load_movielens_100k(movielens_folder)
    elapsed = time.perf_counter() - start
    assert len(dataset.interactions) == 100_000
    assert dataset.interactions.user_id.nunique() == 943 and len(dataset.users) == 943
    assert len(dataset.items) == 1_682
    assert (dataset.items.image_path != "").sum() == 1_663
    assert report.items_missing_image == 19
    assert report.items_missing_text == (dataset.items.text == "").sum() > 0
    assert report.total_skipped == 0 and report.duplicates_dropped == 0
    assert any("tmdb_items.csv" in n and "55 movie ids" in n for n in report.notes)
    assert "tmdb_items.csv" in report.format()
    toy = dataset.items.set_index("item_id").loc["1"]
    assert toy.title == "Toy Story (1995)" and toy.genres == "Animation|Children's|Comedy"
    assert toy.year == "1995" and toy.text.startswith("Led by Woody")
    assert os.path.isabs(toy.image_path) and os.path.exists(toy.image_path)
    assert dataset.items.set_index("item_id").loc["267"].year == ""
    first = dataset.interactions.iloc[0]
    assert (first.user_id, first.item_id, first.timestamp, first.rating) == ("196", "242", 881250949, 3.0)
    assert dataset.interactions.rating.dtype == np.float32
    assert dataset.interactions.timestamp.dtype == np.int64
    assert dataset.users.set_index("user_id").loc["1"].zip_prefix == "8"
    assert report.rows_read == (report.rows_kept + report.total_skipped + report.duplicates_dropped
                                + report.duplicate_rows)
    assert elapsed < 5


def test_real_plain_ml100k_folder(movielens_folder):
    dataset, report = load_movielens_100k(movielens_folder / "ml-100k")
    assert len(dataset.items) == 1_682
    assert (dataset.items.text == "").all() and (dataset.items.image_path == "").all()
    assert report.items_missing_text == report.items_missing_image == 1_682


def test_small_folder_content(tmp_path):
    dataset, report = load_movielens_100k(write_small(tmp_path))
    items = dataset.items.set_index("item_id")
    assert items.loc["10"].title == "Amélie (2001)"
    assert items.loc["10"].genres == "Comedy|Romance" and items.loc["10"].year == "2001"
    assert items.loc["10"].text == "A shy waitress, in Paris."  # first non-empty overview
    assert items.loc["20"].text == "Text B" and items.loc["20"].year == ""
    assert items.loc["10"].image_path == str(tmp_path / "posters" / "10.jpg")
    assert items.loc["20"].image_path == ""
    assert report.items_missing_image == 1 and report.items_missing_text == 0
    assert report.duplicate_rows == 2
    assert dataset.users.set_index("user_id").zip_prefix.to_dict() == {"1": "8", "2": ""}
    assert dataset.users.age.tolist() == [24.0, 53.0]


def test_without_u_genre_uses_standard_names(tmp_path):
    dataset, _ = load_movielens_100k(write_small(tmp_path, genre_file=False))
    assert dataset.items.set_index("item_id").loc["20"].genres == "unknown"


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="u.data"):
        load_movielens_100k(tmp_path)


@pytest.mark.parametrize("data, line, column, reason", [
    ("1\t10\t4\t881250949\n2\t20\tabc\t881250950\n", 2, "rating", "is not a number"),
    ("1\t10\tnan\t881250949\n", 1, "rating", "is NaN"),
    ("1\t10\t-1\t881250949\n", 1, "rating", "below the minimum"),
    ("1\t10\t4\t881250949\n1\t10\t4\t-100\n", 2, "timestamp", "below the minimum"),
    ("1\t10\t4\t881250949000\n", 1, "timestamp", "above the maximum"),
    ("1\t10\t4\t881250949\n1\t10\t4\n", 2, "timestamp", "has 3 fields"),
    ("1\t10\t4\t881250949\n1\t10\t4\t88", 2, None, None),  # complete fields: fine
    ("1\t10\t4\t881250949\n\t10\t4\t881250949\n", 2, "user_id", "is empty"),
    ("1\t99\t4\t881250949\n", 1, "item_id", "not an item in u.item"),
])
def test_broken_u_data_names_file_line_and_column(tmp_path, data, line, column, reason):
    folder = write_small(tmp_path, data=data)
    if reason is None:
        load_movielens_100k(folder)
        return
    with pytest.raises(BadRowError) as info:
        load_movielens_100k(folder)
    e = info.value
    assert e.path == str(folder / "ml-100k" / "u.data")
    assert (e.line, e.column) == (line, column)
    assert reason in str(e) and f"line {line}, column '{column}'" in str(e)


def test_wrong_delimiter_in_u_data(tmp_path):
    folder = write_small(tmp_path, data="1,10,4,881250949\n")
    with pytest.raises(BadRowError, match=r"u\.data line 1: has 1 column, expected 4 separated by tab"):
        load_movielens_100k(folder)


def test_non_utf8_u_data(tmp_path):
    folder = write_small(tmp_path, data="")
    (folder / "ml-100k" / "u.data").write_bytes(b"1\t10\t4\t881250949\n2\t2\xe90\t5\t881250950\n")
    with pytest.raises(BadRowError, match=r"line 2: byte offset 20 \(0xe9\) is not valid utf-8"):
        load_movielens_100k(folder)


def test_truncated_last_line_of_u_data(tmp_path):
    folder = write_small(tmp_path, data="1\t10\t4\t881250949\n2\t20")
    with pytest.raises(BadRowError, match=r"line 2, column 'rating': is a truncated last line"):
        load_movielens_100k(folder)


def test_skip_bad_rows_and_duplicates_are_counted(tmp_path):
    data = ("1\t10\t4\t881250949\n"
            "1\t10\t4\t881250949\n"     # duplicate
            "2\t20\tabc\t881250950\n"   # bad rating
            "2\t20\t9\t881250950\n"     # out of range
            "2\t20\t5\n"                # missing column
            "1\t20\t3\t881250951\n")
    dataset, report = load_movielens_100k(write_small(tmp_path, data=data), skip_bad_rows=True)
    assert len(dataset.interactions) == 2
    assert report.duplicates_dropped == 1
    assert report.rows_skipped == {"bad rating": 1, "rating out of range": 1,
                                   "wrong number of fields": 1}
    assert len(report.skipped_messages) == 3
    assert all(str(tmp_path) in m for m in report.skipped_messages)
    # user 2 has no interactions left but stays in the user table
    assert len(dataset.users) == 2


def test_bad_item_flag_in_u_item(tmp_path):
    folder = write_small(tmp_path)
    item = folder / "ml-100k" / "u.item"
    item.write_bytes(item.read_bytes().replace(b"|http://y|1|", b"|http://y|x|"))
    with pytest.raises(BadRowError) as info:
        load_movielens_100k(folder)
    assert info.value.path.endswith("u.item") and info.value.line == 2
    assert info.value.column == "genre_0"


def test_copy_of_real_folder_with_a_bad_row_skips_one(movielens_folder, tmp_path):
    folder = tmp_path / "mm"
    shutil.copytree(movielens_folder / "ml-100k", folder / "ml-100k")
    with open(folder / "ml-100k" / "u.data", "a") as f:
        f.write("196\t242\tx\t881250949\n")
    dataset, report = load_movielens_100k(folder, skip_bad_rows=True)
    assert len(dataset.interactions) == 100_000
    assert report.rows_skipped == {"bad rating": 1}
    assert "u.data line 100001, column 'rating'" in report.skipped_messages[0]
