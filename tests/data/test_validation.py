"""Line-aware reading, column parsers and the validation report."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrec.data.validation import (
    MAX_MESSAGES,
    BadRowError,
    RawTable,
    RowChecker,
    ValidationReport,
    drop_duplicate_interactions,
    read_delimited,
)

COLUMNS = ("user_id", "item_id", "rating", "timestamp")


def write(tmp_path, text, name="u.data"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def raw(values, column="x"):
    cells = pd.DataFrame({column: pd.Series(values, dtype=object)})
    return RawTable("f.csv", cells, np.arange(2, len(values) + 2))


# -- BadRowError and report ------------------------------------------------


def test_bad_row_error_message_and_attributes():
    e = BadRowError("/data/u.data", 17, "rating", "abc", "is not a number")
    assert str(e) == "/data/u.data line 17, column 'rating': 'abc' is not a number"
    assert (e.path, e.line, e.column, e.value, e.reason) == (
        "/data/u.data", 17, "rating", "abc", "is not a number")
    assert isinstance(e, ValueError)


def test_report_merge_to_dict_and_format():
    a = ValidationReport(rows_read=10, rows_kept=8, rows_skipped={"bad rating": 2},
                         skipped_messages=["m1"], notes=["n1"])
    b = ValidationReport(rows_read=5, rows_kept=4, rows_skipped={"bad rating": 1, "x": 0},
                         duplicates_dropped=1, items_missing_image=3)
    m = a.merge(b)
    assert m.rows_read == 15 and m.rows_kept == 12 and m.duplicates_dropped == 1
    assert m.rows_skipped["bad rating"] == 3
    assert m.to_dict()["items_missing_image"] == 3
    text = m.format()
    assert "15 read" in text and "bad rating: 3" in text and "note: n1" in text and "m1" in text
    assert a.rows_read == 10  # merge does not mutate


def test_report_keeps_at_most_max_messages():
    report = ValidationReport()
    report.count_skipped("r", 30, [f"m{i}" for i in range(30)])
    report.count_skipped("r", 1, ["late"])
    assert report.rows_skipped["r"] == 31
    assert len(report.skipped_messages) == MAX_MESSAGES


# -- raw files --------------------------------------------------------------


def test_reads_lines_with_numbers(tmp_path):
    path = write(tmp_path, "1\t2\t3\t881250949\n\n4\t5\t1\t881250950\n")
    table = read_delimited(path, COLUMNS, delimiter="\t")
    assert table.lines.tolist() == [1, 3]
    assert table.cells.user_id.tolist() == ["1", "4"]


def test_wrong_delimiter_names_file_line_and_expected_delimiter(tmp_path):
    path = write(tmp_path, "1,2,3,881250949\n")
    with pytest.raises(BadRowError) as info:
        read_delimited(path, COLUMNS, delimiter="\t", skip_bad_rows=True)
    message = str(info.value)
    assert str(path) in message and "line 1" in message
    assert "tab" in message and "comma" in message


def test_missing_column_in_row_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "1\t2\t3\t881250949\n1\t2\t3\n1\t2\t3\t881250949\n")
    with pytest.raises(BadRowError) as info:
        read_delimited(path, COLUMNS, delimiter="\t")
    e = info.value
    assert (e.path, e.line, e.column) == (str(path), 2, "timestamp")
    assert f"{path} line 2, column 'timestamp'" in str(e)


def test_missing_header_column_names_file_line_and_column(tmp_path):
    path = write(tmp_path, "user,item_id\n1,2\n", name="events.csv")
    with pytest.raises(BadRowError) as info:
        read_delimited(path, ["user_id", "item_id"], delimiter=",", header=True, quoted=True)
    assert (info.value.line, info.value.column) == (1, "user_id")
    assert str(path) in str(info.value)


def test_wrong_field_count_skipped_and_counted(tmp_path):
    path = write(tmp_path, "1\t2\t3\t9\n1\t2\n1\t2\t3\t9\t9\n5\t6\t7\t8\n")
    report = ValidationReport()
    table = read_delimited(path, COLUMNS, delimiter="\t", skip_bad_rows=True, report=report)
    assert table.lines.tolist() == [1, 4]
    assert report.rows_skipped == {"wrong number of fields": 2}
    assert report.rows_read == 4
    assert any("line 3" in m for m in report.skipped_messages)


def test_non_utf8_bytes_name_file_line_and_byte_offset(tmp_path):
    path = write(tmp_path, b"1\t2\t3\t9\n1\t\xff2\t3\t9\n")
    with pytest.raises(BadRowError) as info:
        read_delimited(path, COLUMNS, delimiter="\t")
    message = str(info.value)
    assert str(path) in message and "line 2" in message and "byte offset 10" in message
    report = ValidationReport()
    table = read_delimited(path, COLUMNS, delimiter="\t", skip_bad_rows=True, report=report)
    assert table.lines.tolist() == [1]
    assert report.rows_skipped == {"not utf-8": 1} and report.rows_read == 2


def test_latin1_file_reads_accents(tmp_path):
    path = write(tmp_path, "1|Bel\xe9\n".encode("latin-1"), name="u.item")
    table = read_delimited(path, ("id", "title"), delimiter="|", encoding="latin-1")
    assert table.cells.title[0] == "Belé"


def test_truncated_last_line(tmp_path):
    path = write(tmp_path, "1\t2\t3\t9\n1\t2")
    with pytest.raises(BadRowError) as info:
        read_delimited(path, COLUMNS, delimiter="\t")
    assert info.value.line == 2 and info.value.column == "rating"
    assert "truncated last line" in str(info.value)


def test_quoted_csv_keeps_line_numbers_of_multiline_records(tmp_path):
    path = write(tmp_path, 'id,text\n1,"a\nb"\n2,"c, d"\n3,x\n', name="t.csv")
    table = read_delimited(path, ["id", "text"], delimiter=",", header=True, quoted=True)
    assert table.lines.tolist() == [2, 4, 5]
    assert table.cells.text.tolist() == ["a\nb", "c, d", "x"]


# -- column parsers ----------------------------------------------------------


@pytest.mark.parametrize("value, reason", [
    ("abc", "is not a number"),
    ("nan", "is NaN"),
    ("inf", "is not finite"),
    ("", "is empty"),
    ("-1", "is below the minimum 1"),
    ("7", "is above the maximum 5"),
])
def test_parse_float_rejects(value, reason):
    check = RowChecker(raw(["3", value]), ValidationReport(), skip_bad_rows=False)
    with pytest.raises(BadRowError) as info:
        check.parse_float("x", min_value=1, max_value=5)
    assert (info.value.line, info.value.column) == (3, "x")
    assert reason in str(info.value)


@pytest.mark.parametrize("value, reason", [
    ("-5", "below the minimum 0"),
    ("1700000000000", "above the maximum"),
    ("2.5", "whole number"),
    ("yesterday", "not a number or an ISO-8601 time"),
])
def test_parse_timestamp_rejects(value, reason):
    check = RowChecker(raw([value]), ValidationReport(), skip_bad_rows=False)
    with pytest.raises(BadRowError, match=reason):
        check.parse_timestamp("x")


def test_parse_timestamp_accepts_seconds_and_iso():
    check = RowChecker(raw(["881250949", "2020-01-01T00:00:00Z", "2020-01-01 01:00:00+01:00",
                            "1970-01-02"]), ValidationReport(), skip_bad_rows=False)
    assert check.parse_timestamp("x").tolist() == [881250949, 1577836800, 1577836800, 86400]


def test_parse_id_rejects_empty_and_skip_counts():
    report = ValidationReport()
    check = RowChecker(raw(["a", " ", "b"], column="user_id"), report, skip_bad_rows=True)
    ids = check.parse_id("user_id")
    assert ids[check.keep].tolist() == ["a", "b"]
    assert report.rows_skipped == {"empty user_id": 1}


def test_a_row_with_two_problems_is_counted_once():
    cells = pd.DataFrame({"a": ["x", "1", "y"], "b": ["z", "w", "2"]}, dtype=object)
    report = ValidationReport()
    check = RowChecker(RawTable("f", cells, np.array([1, 2, 3])), report, skip_bad_rows=True)
    check.parse_float("a")
    check.parse_float("b")
    assert check.keep.tolist() == [False, False, False]
    assert report.rows_skipped == {"bad a": 2, "bad b": 1}


def test_duplicate_interactions_dropped_and_counted():
    frame = pd.DataFrame({"user_id": ["1", "1", "1"], "item_id": ["2", "2", "2"],
                          "timestamp": [5, 5, 6], "rating": [1.0, 2.0, 3.0]})
    report = ValidationReport()
    out = drop_duplicate_interactions(frame, report)
    assert out.rating.tolist() == [1.0, 3.0] and report.duplicates_dropped == 1


# -- properties ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=30))
def test_parse_float_round_trips_finite_numbers(values):
    check = RowChecker(raw([repr(v) for v in values]), ValidationReport(), skip_bad_rows=False)
    assert check.parse_float("x").tolist() == values


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-10**6, 10**6), st.text(alphabet="xyz.-+ e", max_size=5),
                          st.sampled_from(["nan", "inf", "-inf", ""])), min_size=1, max_size=30))
def test_parse_int_keeps_exactly_the_in_range_integers(values):
    cells = [str(v) for v in values]
    report = ValidationReport()
    check = RowChecker(raw(cells), report, skip_bad_rows=True)
    parsed = check.parse_int("x", min_value=0, max_value=1000)

    def valid(cell):
        try:
            number = float(cell)
        except ValueError:
            return False
        return math.isfinite(number) and number == int(number) and 0 <= number <= 1000

    expected = [valid(c) for c in cells]
    assert check.keep.tolist() == expected
    assert parsed[check.keep].tolist() == [int(float(c)) for c, ok in zip(cells, expected) if ok]
    assert report.total_skipped == expected.count(False)
