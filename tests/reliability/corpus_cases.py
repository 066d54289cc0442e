"""The bad-input corpus: one small broken data set per case, and the outcome each must give.

Every case starts from a valid data set (a tiny MovieLens folder, or tabular
interactions + items as CSV or Parquet), breaks one thing, and states what the
loader must do with it:

* ``error``: loading stops with a ``BadRowError`` naming the file, the line (or
  Parquet row) and the column (None for a problem of a whole line or file), and
  a phrase of the reason, with and without ``--skip-bad-rows`` when ``file_level``;
* ``skipped``: with ``skip_bad_rows`` the bad rows are dropped and counted under
  exactly these reasons (``rows_skipped``);
* ``check``: the data set loads (in both modes) and this function asserts
  what was kept, e.g. odd ids unchanged or a zero-byte poster counted as no image.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Callable

import pandas as pd

MB = 1024 * 1024
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"  # a JPEG start, no image after it


@dataclasses.dataclass
class Case:
    name: str
    kind: str                                  # "movielens", "csv" or "parquet"
    change: dict                               # relative file path -> bytes (or None: delete the file)
    error: tuple | None = None                 # (file name, line, column, reason phrase) in strict mode
    file_level: bool = False                   # the error is raised with skip_bad_rows too
    skipped: dict | None = None                # rows_skipped with skip_bad_rows
    check: Callable | None = None              # check(dataset, report) when the data set loads
    mapping: dict | None = None                # tabular column mapping override


# -- valid starting points ------------------------------------------------------------------------

def _flags(*on):
    return "|".join("1" if i in on else "0" for i in range(19))


U_DATA = "1\t10\t4\t881250949\n2\t20\t5\t881250950\n1\t20\t3\t881250951\n"
U_ITEM = f"10|Amelie (2001)|01-Jan-2001||http://x|{_flags(5, 14)}\n20|Heat (1995)|01-Jan-1995||http://y|{_flags(1)}\n"
U_USER = "1|24|M|technician|85711\n2|53|F|other|T8H1N\n"
TMDB = 'movie_id,title,overview\n10,A,"A shy waitress, in Paris."\n20,B,A heist.\n'


def movielens_files() -> dict:
    return {"ml-100k/u.data": U_DATA.encode(), "ml-100k/u.item": U_ITEM.encode("latin-1"),
            "ml-100k/u.user": U_USER.encode(), "tmdb_items.csv": TMDB.encode(),
            "posters/10.jpg": JPEG_HEADER, "posters/20.jpg": JPEG_HEADER}


INTERACTIONS_CSV = "user_id,item_id,timestamp,rating\nu1,i1,881250949,4\nu2,i2,881250950,5\nu1,i2,881250951,3\n"
ITEMS_CSV = "item_id,title,text,image_path\ni1,One,first item,i1.jpg\ni2,Two,second item,i2.jpg\n"
TABULAR_MAPPING = {"rating": "rating", "title": "title", "text": "text", "image_path": "image_path"}


def tabular_files(kind: str) -> dict:
    files = {"i1.jpg": JPEG_HEADER, "i2.jpg": JPEG_HEADER}
    if kind == "csv":
        files.update({"interactions.csv": INTERACTIONS_CSV.encode(), "items.csv": ITEMS_CSV.encode()})
    else:
        files.update({"interactions.parquet": parquet(pd.read_csv(io.StringIO(INTERACTIONS_CSV), dtype=str)),
                      "items.parquet": parquet(pd.read_csv(io.StringIO(ITEMS_CSV), dtype=str))})
    return files


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def interactions_pq(**columns) -> bytes:
    frame = pd.read_csv(io.StringIO(INTERACTIONS_CSV), dtype=str)
    for name, values in columns.items():
        if values is None:
            frame = frame.drop(columns=name)
        else:
            frame[name] = values
    return parquet(frame)


# -- checks of what loaded ------------------------------------------------------------------------

def _no_image(item_id):
    def check(dataset, report):
        items = dataset.items.set_index("item_id")
        assert items.loc[item_id].image_path == "", items.loc[item_id].image_path
        assert report.items_missing_image >= 1
        assert any("not images" in n for n in report.notes), report.notes
    return check


def _duplicates(interactions=0, rows=0):
    def check(dataset, report):
        assert report.duplicates_dropped == interactions and report.duplicate_rows == rows, report
    return check


def _ids_kept(column, ids):
    def check(dataset, report):
        frame = dataset.interactions if column in ("user_id",) else dataset.items
        assert set(ids) <= set(frame[column]), (ids, list(frame[column]))
    return check


def _long_text(item_id, length):
    def check(dataset, report):
        assert len(dataset.items.set_index("item_id").loc[item_id].text) == length
    return check


ODD_IDS = ["ü☃ 用户", "a b", 'say "hi"', "x|y", "tab\there", "it's"]


def _odd_id_csv() -> bytes:
    rows = "".join(f'"{u.replace(chr(34), chr(34) * 2)}",i1,{881250960 + n},4\n' for n, u in enumerate(ODD_IDS))
    return (INTERACTIONS_CSV + rows).encode("utf-8")


# -- the corpus -----------------------------------------------------------------------------------

def cases() -> list[Case]:
    d = "ml-100k/"
    ml = [
        Case("ml truncated u.data", "movielens", {d + "u.data": (U_DATA + "2\t10\t4").encode()},
             error=("u.data", 4, "timestamp", "truncated last line"), skipped={"truncated last line": 1}),
        Case("ml wrong delimiter", "movielens", {d + "u.data": U_DATA.replace("\t", ",").encode()},
             error=("u.data", 1, None, "comma-separated"), file_level=True),
        Case("ml non-UTF-8 u.data", "movielens", {d + "u.data": U_DATA.encode() + b"2\t1\xff0\t4\t881250952\n"},
             error=("u.data", 4, None, "not valid utf-8"), skipped={"not utf-8": 1}),
        Case("ml non-UTF-8 tmdb_items.csv", "movielens", {"tmdb_items.csv": TMDB.encode() + b'20,B,"caf\xe9"\n'},
             error=("tmdb_items.csv", 4, None, "not valid utf-8"), skipped={"not utf-8": 1}),
        Case("ml missing column u.user", "movielens", {d + "u.user": b"1|24|M|technician|85711\n2|53|F|other\n"},
             error=("u.user", 2, "zip", "has 4 fields, expected 5"),
             skipped={"wrong number of fields": 1, "unknown user": 1}),  # user 2's ratings go too
        Case("ml extra column u.data", "movielens", {d + "u.data": (U_DATA + "2\t10\t4\t881250952\t9\n").encode()},
             error=("u.data", 4, None, "has 5 fields, expected 4"), skipped={"wrong number of fields": 1}),
        Case("ml negative rating", "movielens", {d + "u.data": (U_DATA + "2\t10\t-3\t881250952\n").encode()},
             error=("u.data", 4, "rating", "below the minimum 1"), skipped={"rating out of range": 1}),
        Case("ml NaN rating", "movielens", {d + "u.data": (U_DATA + "2\t10\tNaN\t881250952\n").encode()},
             error=("u.data", 4, "rating", "is NaN"), skipped={"bad rating": 1}),
        Case("ml timestamp in milliseconds", "movielens",
             {d + "u.data": (U_DATA + "2\t10\t4\t881250952000\n").encode()},
             error=("u.data", 4, "timestamp", "milliseconds"), skipped={"timestamp out of range": 1}),
        Case("ml negative timestamp", "movielens", {d + "u.data": (U_DATA + "2\t10\t4\t-60\n").encode()},
             error=("u.data", 4, "timestamp", "below the minimum 0"), skipped={"timestamp out of range": 1}),
        Case("ml duplicate interaction rows", "movielens",
             {d + "u.data": (U_DATA + "1\t10\t4\t881250949\n").encode()}, check=_duplicates(interactions=1)),
        Case("ml duplicate item rows", "movielens",
             {d + "u.item": (U_ITEM + f"10|Again|||x|{_flags(2)}\n").encode("latin-1")}, check=_duplicates(rows=1)),
        Case("ml zero-byte poster", "movielens", {"posters/10.jpg": b""}, check=_no_image("10")),
        Case("ml poster that is not an image", "movielens", {"posters/10.jpg": b"<html>404 Not Found</html>"},
             check=_no_image("10")),
        Case("ml 1 MB overview", "movielens",
             {"tmdb_items.csv": b'movie_id,title,overview\n10,A,"' + b"long, " * (MB // 6) + b'"\n20,B,x\n'},
             check=_long_text("10", len("long, " * (MB // 6)) - 1)),  # stripped
        Case("ml id with '|' in u.item", "movielens",
             {d + "u.item": (U_ITEM + f"3|0|Odd|||x|{_flags(2)}\n").encode("latin-1")},
             error=("u.item", 3, None, "has 25 fields, expected 24"), skipped={"wrong number of fields": 1}),
        Case("ml unknown item in u.data", "movielens", {d + "u.data": (U_DATA + "2\t99\t4\t881250952\n").encode()},
             error=("u.data", 4, "item_id", "is not an item in u.item"), skipped={"unknown item": 1}),
        Case("ml zero-byte u.data", "movielens", {d + "u.data": b""},
             error=("u.data", 1, None, "no interactions"), file_level=True),
    ]
    tab = []
    for kind in ("csv", "parquet"):
        f = f"interactions.{kind}"
        if kind == "csv":
            tab += [
                Case("csv truncated", kind, {f: (INTERACTIONS_CSV + "u2,i1").encode()},
                     error=(f, 5, "timestamp", "truncated last line"), skipped={"truncated last line": 1}),
                Case("csv semicolon-delimited", kind, {f: INTERACTIONS_CSV.replace(",", ";").encode()},
                     error=(f, 1, None, "semicolon-separated"), file_level=True),
                Case("csv non-UTF-8 (latin-1)", kind, {f: INTERACTIONS_CSV.encode() + "u3,caf\u00e9,881250952,1\n".encode("latin-1")},
                     error=(f, 5, None, "not valid utf-8"), skipped={"not utf-8": 1}),
                Case("csv missing column in header", kind,
                     {f: b"user_id,item_id,rating\nu1,i1,4\nu2,i2,5\n"},
                     error=(f, 1, "timestamp", "missing from the header"), file_level=True),
                Case("csv extra field in a row", kind, {f: (INTERACTIONS_CSV + "u2,i1,881250952,4,extra\n").encode()},
                     error=(f, 5, None, "has 5 fields, expected 4"), skipped={"wrong number of fields": 1}),
                Case("csv extra column in header (ignored)", kind,
                     {f: INTERACTIONS_CSV.replace("rating\n", "rating,note\n").replace("4\n", "4,a\n")
                         .replace("5\n", "5,b\n").replace("3\n", "3,c\n").encode()}, check=_duplicates()),
                Case("csv negative rating", kind, {f: (INTERACTIONS_CSV + "u2,i1,881250952,-1\n").encode()},
                     error=(f, 5, "rating", "below the minimum 0"), skipped={"rating out of range": 1}),
                Case("csv NaN rating", kind, {f: (INTERACTIONS_CSV + "u2,i1,881250952,nan\n").encode()},
                     error=(f, 5, "rating", "is NaN"), skipped={"bad rating": 1}),
                Case("csv timestamp year 2200", kind,
                     {f: (INTERACTIONS_CSV + "u2,i1,2200-01-01T00:00:00,4\n").encode()},
                     error=(f, 5, "timestamp", "above the maximum"), skipped={"timestamp out of range": 1}),
                Case("csv timestamp not a time", kind, {f: (INTERACTIONS_CSV + "u2,i1,yesterday,4\n").encode()},
                     error=(f, 5, "timestamp", "not a number or an ISO-8601 time"), skipped={"bad timestamp": 1}),
                Case("csv duplicate rows", kind, {f: (INTERACTIONS_CSV + "u1,i1,881250949,4\n").encode()},
                     check=_duplicates(interactions=1)),
                Case("csv unterminated quote", kind, {f: (INTERACTIONS_CSV + 'u2,"i1,881250952,4\nu3,i2,1,1\n').encode()},
                     error=(f, 5, "timestamp", "has 2 fields, expected 4"), skipped={"wrong number of fields": 1}),
                Case("csv 1 MB id", kind, {f: (INTERACTIONS_CSV + "u2," + "i" * MB + ",881250952,4\n").encode()},
                     error=(f, 5, "item_id", "longer than 1024"), skipped={"bad item_id": 1}),
                Case("csv 1 MB text field", kind,
                     {"items.csv": (ITEMS_CSV + 'i3,Three,"' + "word, " * (MB // 6) + '",\n').encode()},
                     check=_long_text("i3", len("word, " * (MB // 6)) - 1)),
                Case("csv odd ids (unicode, spaces, quotes, |, tab)", kind, {f: _odd_id_csv()},
                     check=_ids_kept("user_id", ODD_IDS)),
                Case("csv zero-byte file", kind, {f: b""}, error=(f, 1, None, "is empty"), file_level=True),
                Case("csv zero-byte item image", kind, {"i1.jpg": b""}, check=_no_image("i1")),
                Case("csv corrupt item image", kind, {"i1.jpg": b"GIF? no: plain text"}, check=_no_image("i1")),
            ]
        else:
            good = pd.read_csv(io.StringIO(INTERACTIONS_CSV), dtype=str)
            tab += [
                Case("parquet zero-byte file", kind, {f: b""}, error=(f, 1, None, "not a readable Parquet"),
                     file_level=True),
                Case("parquet truncated file", kind, {f: interactions_pq()[:-40]},
                     error=(f, 1, None, "not a readable Parquet"), file_level=True),
                Case("parquet CSV bytes named .parquet", kind, {f: INTERACTIONS_CSV.encode()},
                     error=(f, 1, None, "not a readable Parquet"), file_level=True),
                Case("parquet missing column", kind, {f: interactions_pq(timestamp=None)},
                     error=(f, 1, "timestamp", "is missing"), file_level=True),
                Case("parquet negative rating", kind, {f: interactions_pq(rating=[4.0, -2.0, 3.0])},
                     error=(f, 2, "rating", "below the minimum 0"), skipped={"rating out of range": 1}),
                Case("parquet NaN rating", kind, {f: interactions_pq(rating=[4.0, float("nan"), 3.0])},
                     error=(f, 2, "rating", "is NaN"), skipped={"bad rating": 1}),
                Case("parquet timestamp in milliseconds", kind,
                     {f: interactions_pq(timestamp=[881250949, 881250950000, 881250951])},
                     error=(f, 2, "timestamp", "milliseconds"), skipped={"timestamp out of range": 1}),
                Case("parquet duplicate rows", kind, {f: parquet(pd.concat([good, good.iloc[:1]]))},
                     check=_duplicates(interactions=1)),
                Case("parquet odd ids", kind,
                     {f: parquet(pd.concat([good, pd.DataFrame({"user_id": ODD_IDS, "item_id": "i1",
                                                                "timestamp": "881250960", "rating": "4"})]))},
                     check=_ids_kept("user_id", ODD_IDS)),
                Case("parquet 1 MB text field", kind,
                     {"items.parquet": parquet(pd.DataFrame({"item_id": ["i1", "i2"], "title": ["One", "Two"],
                                                             "text": ["x" * MB, "y"], "image_path": ["", ""]}))},
                     check=_long_text("i1", MB)),
            ]
    return ml + tab
