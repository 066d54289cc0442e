"""Line-aware reading and checking of raw data files.

Loaders read raw files into a :class:`RawTable` (string cells plus the line
each row came from), parse columns with the ``parse_*`` helpers of a
:class:`RowChecker`, and collect what they did in a :class:`ValidationReport`.

Every problem names the file, the line (1-based, the header counts as line 1)
and the column, because "could not convert string to float" on a
100,000-line file is not something a user can fix. With
``skip_bad_rows=False`` the first bad row raises :class:`BadRowError`; with
``skip_bad_rows=True`` bad rows are dropped and counted per reason, and the
first few messages are kept in the report.

File-level problems (wrong delimiter, missing header column, non-UTF-8 bytes
when ``skip_bad_rows`` is False) always raise: skipping them would mean
skipping the whole file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os

import numpy as np
import pandas as pd

from tfrec.errors import MissingFileError, UserError

MAX_MESSAGES = 20
"""How many skipped-row messages a report keeps."""

MIN_TIMESTAMP = 0
"""1970-01-01: earlier Unix times are almost always a parsing mistake."""

MAX_TIMESTAMP = 4_102_444_800
"""2100-01-01: later values are usually milliseconds read as seconds."""

MAX_ID_CHARS = 1024
"""Longer ids are a parsing mistake (e.g. a field that swallowed the rest of the file)."""

_COMMON_DELIMITERS = ("\t", ",", ";", "|")


class BadRowError(UserError, ValueError):
    """One cell, row or line of an input file is not valid.

    Attributes:
      path: the file.
      line: 1-based line number (header counts), or row number for Parquet.
      column: the column name, or None for problems of a whole line.
      value: the offending raw value, or None.
      reason: what is wrong, e.g. ``"is not a number"``.
    """

    def __init__(self, path, line, column, value, reason, unit="line"):
        self.path = str(path)
        self.line = int(line)
        self.column = column
        self.value = value
        self.reason = reason
        self.unit = unit
        where = f"{self.path} {unit} {self.line}"
        if column is not None:
            where += f", column {column!r}"
        what = reason if value is None else f"{_shorten(value)} {reason}"
        super().__init__(f"{where}: {what}")


MAX_SHOWN_CHARS = 80
"""A value longer than this is cut in messages (a 1 MB cell must not flood a terminal)."""


def _shorten(value) -> str:
    text = str(value)
    if len(text) <= MAX_SHOWN_CHARS:
        return repr(text) if isinstance(value, str) else repr(value)
    return f"{text[:MAX_SHOWN_CHARS]!r}... ({len(text):,} characters)"


@dataclasses.dataclass
class ValidationReport:
    """What a loader read, kept, dropped and filled in.

    ``rows_read == rows_kept + sum(rows_skipped.values()) + duplicates_dropped
    + duplicate_rows`` over all files a loader read.

    Attributes:
      rows_read: data rows read from all files (headers and blank lines excluded).
      rows_kept: rows that made it into the tables.
      rows_skipped: bad rows dropped, per reason (only with ``skip_bad_rows``).
      duplicates_dropped: interactions with the same user, item and timestamp
        as an earlier one (the first is kept).
      duplicate_rows: item/user/content rows whose id appeared earlier in the
        same file (the first, or first usable, row is kept).
      items_missing_text: items whose text is empty (they are kept).
      items_missing_image: items without an image (they are kept).
      items_added: items referenced by interactions but absent from the item
        table, added with empty content.
      users_added: the same for users.
      skipped_messages: the first :data:`MAX_MESSAGES` skipped-row messages.
      notes: other things the loader did that a user should know.
    """

    rows_read: int = 0
    rows_kept: int = 0
    rows_skipped: dict = dataclasses.field(default_factory=dict)
    duplicates_dropped: int = 0
    duplicate_rows: int = 0
    items_missing_text: int = 0
    items_missing_image: int = 0
    items_added: int = 0
    users_added: int = 0
    skipped_messages: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    @property
    def total_skipped(self) -> int:
        return sum(self.rows_skipped.values())

    def count_skipped(self, reason: str, count: int, messages=()) -> None:
        """Adds ``count`` skipped rows under ``reason`` and keeps a few messages."""
        if count:
            self.rows_skipped[reason] = self.rows_skipped.get(reason, 0) + int(count)
        room = MAX_MESSAGES - len(self.skipped_messages)
        self.skipped_messages.extend(list(messages)[: max(room, 0)])

    def merge(self, other: "ValidationReport") -> "ValidationReport":
        """Returns a new report with the counts of both added up."""
        merged = ValidationReport()
        for field in dataclasses.fields(self):
            a, b = getattr(self, field.name), getattr(other, field.name)
            if isinstance(a, dict):
                value = dict(a)
                for key, count in b.items():
                    value[key] = value.get(key, 0) + count
            elif isinstance(a, list):
                value = a + b
                if field.name == "skipped_messages":
                    value = value[:MAX_MESSAGES]
            else:
                value = a + b
            setattr(merged, field.name, value)
        return merged

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    def format(self) -> str:
        """A short multi-line summary for a terminal or a log."""
        lines = [f"rows: {self.rows_read:,} read, {self.rows_kept:,} kept"]
        if self.rows_skipped:
            reasons = ", ".join(f"{r}: {n:,}" for r, n in sorted(self.rows_skipped.items()))
            lines.append(f"skipped bad rows: {self.total_skipped:,} ({reasons})")
        else:
            lines.append("skipped bad rows: 0")
        lines.append(f"duplicate interactions dropped: {self.duplicates_dropped:,}")
        if self.duplicate_rows:
            lines.append(f"duplicate item/user/content rows dropped: {self.duplicate_rows:,}")
        lines.append(
            f"items missing text: {self.items_missing_text:,}, "
            f"missing image: {self.items_missing_image:,} (kept)"
        )
        if self.items_added or self.users_added:
            lines.append(
                f"added with empty content: {self.items_added:,} items, {self.users_added:,} users"
            )
        lines.extend(f"note: {n}" for n in self.notes)
        if self.skipped_messages:
            lines.append("first skipped rows:")
            lines.extend(f"  {m}" for m in self.skipped_messages)
        return "\n".join(lines)


@dataclasses.dataclass
class RawTable:
    """Unparsed cells of one file, with the line (or row) each row came from.

    ``cells`` holds strings for text files; for Parquet it holds the stored
    dtypes, which the parsers accept as well.
    """

    path: str
    cells: pd.DataFrame
    lines: np.ndarray
    unit: str = "line"

    def __len__(self) -> int:
        return len(self.cells)

    def take(self, mask) -> "RawTable":
        """The rows where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        return RawTable(
            self.path, self.cells[mask].reset_index(drop=True), self.lines[mask], self.unit
        )


# ---------------------------------------------------------------------------
# Reading raw files


def decode_lines(path: str, encoding: str, skip_bad_rows: bool, report: ValidationReport):
    """Returns ``(lines, ends_with_newline)`` of a text file.

    Bytes that are not valid in ``encoding`` raise :class:`BadRowError` with
    the line and the byte offset (from the start of the file), or, with
    ``skip_bad_rows``, drop that line (returned as None so numbering stays).
    """
    with open(path, "rb") as f:
        data = f.read()
    ends_with_newline = data.endswith(b"\n")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        if not skip_bad_rows:
            raise BadRowError(
                path, line, None, None,
                f"byte offset {e.start} (0x{data[e.start]:02x}) is not valid {encoding}",
            ) from None
        return _decode_line_by_line(path, data, encoding, report), ends_with_newline
    lines = text.split("\n")
    if ends_with_newline:
        lines.pop()
    return lines, ends_with_newline


def _decode_line_by_line(path, data: bytes, encoding: str, report: ValidationReport):
    raw_lines = data.split(b"\n")
    if data.endswith(b"\n"):
        raw_lines.pop()
    lines, offset, messages = [], 0, []
    for number, raw in enumerate(raw_lines, 1):
        try:
            lines.append(raw.decode(encoding))
        except UnicodeDecodeError as e:
            lines.append(None)
            messages.append(
                str(BadRowError(path, number, None, None,
                                f"byte offset {offset + e.start} is not valid {encoding}"))
            )
        offset += len(raw) + 1
    report.rows_read += len(messages)
    report.count_skipped("not " + encoding, len(messages), messages)
    return lines


def _delimiter_name(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "'|'"}.get(delimiter, repr(delimiter))


def _check_delimiter(path, line_number, fields, delimiter, expected, raw_line):
    """Raises when a first line has one field but more are expected."""
    if expected > 1 and len(fields) == 1:
        found = [d for d in _COMMON_DELIMITERS if d != delimiter and d in raw_line]
        hint = f"; it looks {_delimiter_name(found[0])}-separated" if found else ""
        raise BadRowError(
            path, line_number, None, None,
            f"has 1 column, expected {expected} separated by {_delimiter_name(delimiter)}{hint}",
        )


def read_delimited(
    path,
    columns,
    *,
    delimiter: str,
    encoding: str = "utf-8",
    header: bool = False,
    quoted: bool = False,
    required=None,
    skip_bad_rows: bool = False,
    report: ValidationReport | None = None,
) -> RawTable:
    """Reads a delimited text file into a :class:`RawTable` of strings.

    Args:
      path: the file.
      columns: names of the columns. Without ``header`` they are the file's
        columns in order, and every row must have exactly that many fields.
        With ``header`` the file's first line names its columns; ``columns``
        (or None: all of them) selects which ones to keep.
      delimiter: the field separator.
      encoding: declared encoding; invalid bytes are reported by line.
      header: whether line 1 holds column names.
      quoted: parse CSV quoting (fields may contain the delimiter, quotes or
        newlines); otherwise lines are split on the delimiter as they are.
      required: with ``header``, columns that must be in the header
        (default: all of ``columns``).
      skip_bad_rows: drop rows with a wrong number of fields (counted)
        instead of raising.
      report: receives the counts.

    Raises:
      BadRowError: wrong delimiter, missing header column, wrong field count,
        truncated last line, or bytes not valid in ``encoding``.
    """
    path = str(path)
    report = report if report is not None else ValidationReport()
    lines, ends_with_newline = decode_lines(path, encoding, skip_bad_rows, report)
    records = _split_records(lines, delimiter, quoted, path)  # (line_number, fields, raw)

    names = list(columns) if columns is not None else None
    if header:
        if not records:
            raise BadRowError(path, 1, None, None, "is empty, expected a header line")
        first_line, file_columns, raw = records.pop(0)
        file_columns = [c.strip().lstrip("\ufeff") for c in file_columns]
        wanted = names if names is not None else file_columns
        must_have = list(required) if required is not None else wanted
        if len(file_columns) == 1 and len(must_have) > 1:
            _check_delimiter(path, first_line, file_columns, delimiter, len(must_have), raw)
        for name in must_have:
            if name not in file_columns:
                raise BadRowError(
                    path, first_line, name, None,
                    f"is missing from the header (columns found: {file_columns})",
                )
        names = [c for c in wanted if c in file_columns]
        positions = [file_columns.index(c) for c in names]
        width = len(file_columns)
    else:
        width = len(names)
        positions = list(range(width))
        if records:
            _check_delimiter(path, records[0][0], records[0][1], delimiter, width, records[0][2])

    row_names = file_columns if header else names
    kept_lines, kept_rows = [], []
    last_line = records[-1][0] if records else 0
    for line_number, fields, raw in records:
        if len(fields) == width:
            kept_lines.append(line_number)
            kept_rows.append([fields[p] for p in positions])
            continue
        if line_number == last_line and not ends_with_newline and len(fields) < width:
            reason = (f"is a truncated last line: {len(fields)} of {width} fields "
                      "and no newline at the end of the file")
            key = "truncated last line"
        else:
            reason = f"has {len(fields)} fields, expected {width}"
            key = "wrong number of fields"
        missing = row_names[len(fields)] if len(fields) < width else None
        error = BadRowError(path, line_number, missing, None, reason)
        if not skip_bad_rows:
            raise error
        report.count_skipped(key, 1, [str(error)])
    report.rows_read += len(records)

    cells = pd.DataFrame(kept_rows, columns=names, dtype=object) if kept_rows else pd.DataFrame(
        {n: pd.Series([], dtype=object) for n in names}
    )
    return RawTable(path, cells, np.asarray(kept_lines, dtype=np.int64))


def _csv_rows(reader, path, line_of, record_start):
    """The reader's rows; a ``csv.Error`` becomes a :class:`BadRowError` at the record's first line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            start = record_start()
            line = line_of[start] if start < len(line_of) else len(line_of) + 1
            raise BadRowError(path, line, None, None, f"is not valid CSV: {e}") from None


def _split_records(lines, delimiter: str, quoted: bool, path: str = ""):
    """``[(first_line_number, fields, raw_line)]``, skipping blank and undecodable lines."""
    records = []
    if not quoted:
        for number, line in enumerate(lines, 1):
            if line is None:
                continue
            line = line[:-1] if line.endswith("\r") else line
            if line.strip() == "":
                continue
            records.append((number, line.split(delimiter), line))
        return records
    # CSV quoting: a record may span several lines; csv tracks where it ends.
    numbered = [(n, l.rstrip("\r")) for n, l in enumerate(lines, 1) if l is not None]
    text = "\n".join(l for _, l in numbered)
    line_of = [n for n, _ in numbered]
    # A field may be as long as the file (e.g. a long overview); csv's default cap is 128 KiB.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 0  # index into numbered of the record's first line
    for fields in _csv_rows(reader, path, line_of, lambda: start):
        end = reader.line_num  # lines consumed so far
        first = line_of[start] if start < len(line_of) else len(lines)
        raw = numbered[start][1] if start < len(numbered) else ""
        start = end
        if not fields or (len(fields) == 1 and fields[0].strip() == ""):
            continue
        records.append((first, fields, raw))
    return records


def read_parquet(path, columns=None, required=None) -> RawTable:
    """Reads a Parquet file into a :class:`RawTable`; rows are numbered from 1.

    Raises:
      BadRowError: a required column is missing, or the file is not Parquet
        (zero bytes, truncated, another format); both reported at row 1.
    """
    path = str(path)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise BadRowError(path, 1, None, None, f"is not a readable Parquet file: {e}", unit="row") from None
    must_have = list(required) if required is not None else list(columns or [])
    for name in must_have:
        if name not in frame.columns:
            raise BadRowError(path, 1, name, None,
                              f"is missing (columns found: {list(frame.columns)})", unit="row")
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return RawTable(path, frame.reset_index(drop=True),
                    np.arange(1, len(frame) + 1, dtype=np.int64), unit="row")


def read_table_file(path, columns, *, required=None, skip_bad_rows=False, report=None) -> RawTable:
    """Reads ``.parquet``, ``.tsv`` (tab) or anything else as UTF-8 CSV, with a header.

    A column named twice (one column mapped to two fields, e.g. title and text) is read once."""
    path = str(path)
    columns = list(dict.fromkeys(columns)) if columns is not None else None
    if not os.path.exists(path):
        raise MissingFileError(f"{path} does not exist")
    report = report if report is not None else ValidationReport()
    if path.endswith((".parquet", ".pq")):
        table = read_parquet(path, columns, required)
        report.rows_read += len(table)
        return table
    delimiter = "\t" if path.endswith((".tsv", ".tab")) else ","
    return read_delimited(path, columns, delimiter=delimiter, header=True, quoted=True,
                          required=required, skip_bad_rows=skip_bad_rows, report=report)


IMAGE_SIGNATURES = (b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
"""Leading bytes of the formats the image encoders decode: JPEG, PNG, GIF, BMP."""


def image_file_problem(path) -> str | None:
    """Why the file at ``path`` is certainly not a decodable image, or None.

    Only the first bytes are read: a zero-byte file, a file of another format
    (an HTML error page saved as ``.jpg``) or an unreadable file is caught
    here; a truncated or corrupt file with a valid header is left to the
    decoder, which gives such an image the "missing" embedding.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if not head:
        return "is empty"
    if not head.startswith(IMAGE_SIGNATURES):
        return "is not a JPEG, PNG, GIF or BMP file"
    return None


def drop_unusable_images(paths, what: str, report: ValidationReport) -> np.ndarray:
    """``paths`` with "" where :func:`image_file_problem` finds a problem; counted in a note.

    The items keep everything else; ``items_missing_image`` counts them with
    the items that had no image at all.
    """
    paths = np.asarray(paths, dtype=object).copy()
    problems = []
    for i, p in enumerate(paths):
        problem = image_file_problem(p) if p else None
        if problem:
            problems.append(f"{p} {problem}")
            paths[i] = ""
    if problems:
        report.notes.append(f"{what}: {len(problems)} image file(s) are empty or not images; those items "
                            f"have no image, e.g. {problems[:3]}")
    return paths


# ---------------------------------------------------------------------------
# Parsing columns


class RowChecker:
    """Parses columns of one :class:`RawTable` and tracks its bad rows.

    Each ``parse_*`` call checks one column for all rows at once (pandas
    vectorised). The first bad row raises :class:`BadRowError`, unless
    ``skip_bad_rows``: then bad rows are marked, counted per reason in the
    report (a row is counted once, for its first problem) and left out by
    :meth:`keep`.
    """

    def __init__(self, table: RawTable, report: ValidationReport, skip_bad_rows: bool):
        self.table = table
        self.report = report
        self.skip_bad_rows = skip_bad_rows
        self.bad = np.zeros(len(table), dtype=bool)

    def reject(self, mask, column: str, reason: str, key: str | None = None) -> None:
        """Marks the rows where ``mask`` is true as bad for ``reason``."""
        mask = np.asarray(mask, dtype=bool)
        new = mask & ~self.bad
        if not new.any():
            return
        rows = np.flatnonzero(new)
        if not self.skip_bad_rows:
            raise self._error(rows[0], column, reason)
        room = max(MAX_MESSAGES - len(self.report.skipped_messages), 0)
        messages = [str(self._error(i, column, reason)) for i in rows[:room]]
        self.report.count_skipped(key or reason, len(rows), messages)
        self.bad |= new

    def _error(self, row: int, column: str, reason: str) -> BadRowError:
        value = self.table.cells[column].iloc[row]
        if not isinstance(value, str):
            value = None if _is_missing(value) else str(value)
        return BadRowError(self.table.path, self.table.lines[row], column,
                           value, reason, unit=self.table.unit)

    @property
    def keep(self) -> np.ndarray:
        """Boolean mask of the rows without problems so far."""
        return ~self.bad

    # -- column parsers -------------------------------------------------

    def parse_str(self, column: str, *, required: bool = False) -> np.ndarray:
        """Stripped strings; ``required`` rejects empty or missing cells."""
        values = _as_text(self.table.cells[column])
        if required:
            self.reject(values == "", column, "is empty", key=f"empty {column}")
        return values.to_numpy(dtype=object)

    def parse_id(self, column: str) -> np.ndarray:
        """Non-empty id strings of at most :data:`MAX_ID_CHARS` characters, stripped.

        Any other character is kept (unicode, inner spaces, quotes, ``|``,
        tabs). Integral floats (e.g. from Parquet) lose their ``.0``.
        """
        series = self.table.cells[column]
        if pd.api.types.is_float_dtype(series.dtype):
            array = _finite_or_zero(series)
            whole = (array % 1 == 0) & (np.abs(array) < 2.0**63) & series.notna().to_numpy()
            text = [str(int(a)) if w else str(v) for a, w, v in zip(array, whole, series)]
            series = pd.Series(text, dtype=object).where(series.notna().to_numpy(), "")
        values = _as_text(series)
        self.reject(values == "", column, "is empty", key=f"empty {column}")
        self.reject(values.str.len() > MAX_ID_CHARS, column,
                    f"is longer than {MAX_ID_CHARS} characters", key=f"bad {column}")
        return values.to_numpy(dtype=object)

    def parse_float(self, column: str, *, min_value=None, max_value=None) -> np.ndarray:
        """Finite float64 values within ``[min_value, max_value]`` (None: no bound).

        Rejects non-numbers, empty cells, NaN, infinities and values out of range.
        """
        raw = self.table.cells[column]
        values = self._to_number(raw, column)
        self._check_range(values, column, min_value, max_value)
        return _finite_or_zero(values)

    def parse_int(self, column: str, *, min_value=None, max_value=None) -> np.ndarray:
        """Whole numbers as int64 within ``[min_value, max_value]``.

        ``"3.0"`` counts as 3; ``"3.5"`` is rejected. Values are parsed as
        float64, so integers beyond 2**53 lose precision (far beyond any
        count, age or Unix time).
        """
        values = self._to_number(self.table.cells[column], column)
        fraction = (values.fillna(0) % 1) != 0
        self.reject(fraction.to_numpy(), column, "is not a whole number", key=f"bad {column}")
        self.reject(np.abs(_finite_or_zero(values)) >= 2.0**63, column,
                    "does not fit in 64 bits", key=f"{column} out of range")
        self._check_range(values, column, min_value, max_value)
        return _to_int64(values)

    def parse_timestamp(self, column: str, *, min_value=MIN_TIMESTAMP,
                        max_value=MAX_TIMESTAMP) -> np.ndarray:
        """Unix seconds (int64) from integer seconds or ISO-8601 strings.

        ISO-8601 strings without a time zone are read as UTC. Values before
        ``min_value`` (1970) or after ``max_value`` (2100, which catches
        milliseconds) are rejected.
        """
        raw = self.table.cells[column]
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            stamps = pd.to_datetime(raw, utc=True)
            seconds = _datetime_seconds(stamps)
            self.reject(stamps.isna().to_numpy(), column, "is empty", key=f"bad {column}")
            seconds = seconds.fillna(0)
        else:
            text = _as_text(raw) if not pd.api.types.is_numeric_dtype(raw.dtype) else None
            numbers = pd.to_numeric(text if text is not None else raw, errors="coerce")
            seconds = numbers.astype("float64")
            if text is not None:
                dated = numbers.isna() & (text != "") & ~_nan_words(text)
                if dated.any():
                    stamps = pd.to_datetime(text[dated], errors="coerce", utc=True, format="ISO8601")
                    seconds[dated] = _datetime_seconds(stamps)
            self._reject_numbers(raw, seconds, column, "is not a number or an ISO-8601 time")
            fraction = (seconds.fillna(0) % 1) != 0
            self.reject(fraction.to_numpy(), column, "is not a whole number of seconds",
                        key=f"bad {column}")
        self._check_range(seconds, column, min_value, max_value,
                          high_hint=" (milliseconds instead of seconds?)")
        return _to_int64(seconds)

    # -- helpers --------------------------------------------------------

    def _to_number(self, raw: pd.Series, column: str) -> pd.Series:
        if pd.api.types.is_bool_dtype(raw.dtype):
            raw = raw.astype(np.float64)
        if pd.api.types.is_numeric_dtype(raw.dtype):
            numbers = raw.astype("float64")
        else:
            numbers = pd.to_numeric(_as_text(raw), errors="coerce").astype("float64")
        self._reject_numbers(raw, numbers, column, "is not a number")
        return numbers

    def _reject_numbers(self, raw, numbers: pd.Series, column: str, not_number: str) -> None:
        """Rejects missing, non-numeric, NaN and infinite values."""
        key = f"bad {column}"
        if pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
            empty = np.zeros(len(raw), dtype=bool)  # a stored null reads as NaN
            nan_word = numbers.isna().to_numpy()
        else:
            text = _as_text(raw)
            empty = (text == "").to_numpy()
            nan_word = _nan_words(text).to_numpy()
        missing = numbers.isna().to_numpy()
        self.reject(empty, column, "is empty", key=key)
        self.reject(missing & nan_word, column, "is NaN", key=key)
        self.reject(missing & ~nan_word & ~empty, column, not_number, key=key)
        self.reject(np.isinf(numbers.fillna(0).to_numpy()), column, "is not finite", key=key)

    def _check_range(self, values: pd.Series, column, min_value, max_value, high_hint=""):
        filled = _finite_or_zero(values)
        if min_value is not None:
            self.reject(filled < min_value, column, f"is below the minimum {min_value:g}",
                        key=f"{column} out of range")
        if max_value is not None:
            self.reject(filled > max_value, column,
                        f"is above the maximum {max_value:g}{high_hint}",
                        key=f"{column} out of range")


def _finite_or_zero(values: pd.Series) -> np.ndarray:
    """float64 values with NaN and infinities (already rejected rows) as 0."""
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(array), array, 0.0)


def _to_int64(values: pd.Series) -> np.ndarray:
    """int64 of the values; values that cannot be represented (already rejected) become 0."""
    array = _finite_or_zero(values)
    return np.where(np.abs(array) < 2.0**63, array, 0.0).astype(np.int64)


def _is_missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_text(series: pd.Series) -> pd.Series:
    """Stripped strings with missing cells as ``""``."""
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


def _nan_words(text: pd.Series) -> pd.Series:
    return text.str.lower().isin(["nan", "+nan", "-nan", "na", "n/a", "null", "none"])


def _datetime_seconds(stamps: pd.Series) -> pd.Series:
    """Float seconds since 1970 of tz-aware datetimes; NaT stays NaN."""
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    return (stamps - epoch) / pd.Timedelta(seconds=1)


def require_interactions(table: RawTable, kept: int, report: ValidationReport) -> None:
    """Raises when an interactions file held no data rows, or none survived ``skip_bad_rows``.

    A data set without interactions cannot be split or trained on; failing
    here names the file instead of failing later in the split.
    """
    if len(table) == 0 and report.total_skipped == 0:
        raise BadRowError(table.path, 1, None, None, "holds no interactions (no data rows)", unit=table.unit)
    if kept == 0:
        raise BadRowError(table.path, 1, None, None,
                          f"has no interactions left: all rows were bad ({report.total_skipped} skipped)",
                          unit=table.unit)


def drop_duplicate_interactions(interactions: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Drops repeats of the same (user_id, item_id, timestamp), keeping the first.

    A repeat is an exact double of one event (usually a logging or export
    glitch); keeping it would count the event twice in training and in
    evaluation. The number dropped goes to ``report.duplicates_dropped``.
    """
    duplicated = interactions.duplicated(["user_id", "item_id", "timestamp"], keep="first")
    count = int(duplicated.sum())
    report.duplicates_dropped += count
    if count:
        interactions = interactions[~duplicated.to_numpy()].reset_index(drop=True)
    return interactions


def drop_duplicate_ids(frame: pd.DataFrame, column: str, report: ValidationReport,
                       what: str) -> pd.DataFrame:
    """Keeps the first row of each id; counts the rest in ``report.duplicate_rows``."""
    duplicated = frame[column].duplicated(keep="first").to_numpy()
    count = int(duplicated.sum())
    if count:
        report.duplicate_rows += count
        ids = frame[column][duplicated].unique()
        report.notes.append(
            f"{what}: {len(ids)} {column} value(s) appear in more than one row "
            f"({count} extra row(s) dropped, the first row kept), e.g. {list(ids[:3])}"
        )
        frame = frame[~duplicated].reset_index(drop=True)
    return frame


def interactions_frame(table, keep, user, item, timestamp, rating, report: ValidationReport) -> pd.DataFrame:
    """The kept rows as an interactions table: stops if none are left, drops and counts duplicates."""
    require_interactions(table, int(keep.sum()), report)
    frame = pd.DataFrame({
        "user_id": user[keep],
        "item_id": item[keep],
        "timestamp": timestamp[keep],
        "rating": rating[keep].astype(np.float32),
    })
    return drop_duplicate_interactions(frame, report)
