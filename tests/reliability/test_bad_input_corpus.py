"""Every case of the bad-input corpus gives its stated outcome, in strict and in skipping mode.

The corpus (``corpus_cases.py``) breaks one thing at a time in a valid
MovieLens folder, tabular CSV or tabular Parquet data set: truncated files,
wrong delimiters, non-UTF-8 bytes, missing and extra columns, negative and NaN
ratings, timestamps out of range, duplicate rows, zero-byte and corrupt
images, 1 MB fields and ids with odd characters. A case either stops loading
with an error naming file, line and column, is skipped and counted under
``skip_bad_rows``, or loads with what it kept checked. The summary counts
how many inputs were tried and how each ended.
"""

from __future__ import annotations

import collections
import os

import pytest

from tests.reliability.corpus_cases import (TABULAR_MAPPING, Case, cases, movielens_files, tabular_files)
from tests.reliability.tally import TALLY
from tfrec.data.movielens import load_movielens_100k
from tfrec.data.tabular import load_tabular
from tfrec.data.validation import BadRowError

CASES = cases()
OUTCOMES: collections.Counter = collections.Counter()


def build(case: Case, folder) -> None:
    files = movielens_files() if case.kind == "movielens" else tabular_files(case.kind)
    files.update(case.change)
    for relative, content in files.items():
        path = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if content is not None:
            with open(path, "wb") as f:
                f.write(content)


def load(case: Case, folder, skip_bad_rows: bool):
    if case.kind == "movielens":
        return load_movielens_100k(folder, skip_bad_rows=skip_bad_rows)
    ext = "csv" if case.kind == "csv" else "parquet"
    return load_tabular(os.path.join(folder, f"interactions.{ext}"), items=os.path.join(folder, f"items.{ext}"),
                        mapping=case.mapping or TABULAR_MAPPING, skip_bad_rows=skip_bad_rows)


def assert_names_the_problem(error: BadRowError, case: Case) -> None:
    name, line, column, phrase = case.error
    assert os.path.basename(error.path) == name, str(error)
    assert error.line == line, str(error)
    assert error.column == column, str(error)
    assert phrase in str(error), str(error)
    assert len(str(error)) < 600, "the message must stay readable even for a 1 MB value"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(case: Case, tmp_path):
    build(case, tmp_path)
    if case.error is not None:
        with pytest.raises(BadRowError) as strict:
            load(case, tmp_path, skip_bad_rows=False)
        assert_names_the_problem(strict.value, case)
        if case.file_level:
            with pytest.raises(BadRowError) as skipping:
                load(case, tmp_path, skip_bad_rows=True)
            assert_names_the_problem(skipping.value, case)
            OUTCOMES["clear error (file level)"] += 1
        else:
            dataset, report = load(case, tmp_path, skip_bad_rows=True)
            assert report.rows_skipped == case.skipped, report.format()
            assert report.skipped_messages and len(report.skipped_messages[0]) < 600
            assert len(dataset.interactions) > 0
            assert report.rows_read >= report.rows_kept
            OUTCOMES["clear error, or skipped and counted"] += 1
    else:
        for skip in (False, True):
            dataset, report = load(case, tmp_path, skip_bad_rows=skip)
            assert report.total_skipped == 0, report.format()
            case.check(dataset, report)
        OUTCOMES["loaded, kept as documented"] += 1
    OUTCOMES[f"inputs tried ({case.kind})"] += 1


def test_corpus_covers_every_loader_and_reports_counts():
    """Runs last in this file: the counts of the cases above, also printed in the summary."""
    kinds = collections.Counter(c.kind for c in CASES)
    assert set(kinds) == {"movielens", "csv", "parquet"}
    assert len(CASES) >= 40
    TALLY.add("inputs", "bad-input corpus cases", total=len(CASES), **{k: kinds[k] for k in sorted(kinds)})
    TALLY.add("inputs", "bad-input corpus outcomes", **{k.replace(" ", "_").replace(",", "").replace("(", "")
                                                      .replace(")", ""): v for k, v in sorted(OUTCOMES.items())
                                                      if not k.startswith("inputs tried")})
