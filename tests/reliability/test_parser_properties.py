"""Property tests of the loaders' parsers: any id survives a CSV round trip; no input crashes them.

Hypothesis writes arbitrary (non-empty, un-padded) unicode ids through
Python's CSV writer and checks the tabular loader reads them back unchanged
(quotes, delimiters, ``|``, tabs and newlines inside quoted fields included),
and feeds arbitrary bytes to the delimited reader and arbitrary text to the
number and timestamp parsers: the only failure allowed is ``BadRowError``.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.tally import TALLY
from tfrec.data.tabular import load_tabular
from tfrec.data.validation import (MAX_ID_CHARS, BadRowError, RawTable, RowChecker, ValidationReport,
                                   read_delimited)

EXAMPLES = 150

ids = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"),
              min_size=1, max_size=30).map(str.strip).filter(lambda s: 0 < len(s) <= MAX_ID_CHARS)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ids, min_size=1, max_size=6, unique=True))
def test_any_id_round_trips_through_csv(tmp_path, users):
    TALLY.count("inputs", "parser property examples (hypothesis)", round_trips=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["user_id", "item_id", "timestamp"])
    for n, user in enumerate(users):
        writer.writerow([user, f"item {n}", 881250949 + n])
    path = tmp_path / "interactions.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    dataset, report = load_tabular(str(path))
    assert list(dataset.interactions.user_id) == users
    assert report.total_skipped == 0


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300), st.sampled_from([",", "\t", "|"]), st.booleans(), st.booleans())
def test_delimited_reader_fails_only_with_bad_row_errors(tmp_path, data, delimiter, quoted, skip):
    TALLY.count("inputs", "parser property examples (hypothesis)", byte_inputs=1)
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    report = ValidationReport()
    try:
        table = read_delimited(str(path), ("a", "b", "c"), delimiter=delimiter, quoted=quoted,
                               skip_bad_rows=skip, report=report)
    except BadRowError as e:
        assert e.path == str(path) and e.line >= 1
        return
    assert len(table) + report.total_skipped <= max(data.count(b"\n") + 1, 1)
    assert all(line >= 1 for line in table.lines)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.floats(allow_nan=True).map(str),
                          st.integers(-2**70, 2**70).map(str)), min_size=1, max_size=8))
def test_number_and_time_parsers_fail_only_with_bad_row_errors(cells):
    TALLY.count("inputs", "parser property examples (hypothesis)", cells=len(cells))
    for method in ("parse_float", "parse_int", "parse_timestamp", "parse_id"):
        table = RawTable("f.csv", pd.DataFrame({"x": pd.Series(cells, dtype=object)}),
                         np.arange(2, len(cells) + 2))
        checker = RowChecker(table, ValidationReport(), skip_bad_rows=True)
        values = getattr(checker, method)("x")
        assert len(values) == len(cells)
        if method != "parse_id":
            kept = np.asarray(values)[checker.keep]
            assert np.all(np.isfinite(kept.astype(np.float64)))
