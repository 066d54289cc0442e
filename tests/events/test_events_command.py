"""``tfrec events``: one event, a file or a stream into a store; every bad row is one line naming file, line
and field, and a bad file adds nothing."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest

from tfrec.cli import main
from tfrec.events import open_store
from tfrec.events.ingest import add_stream


def run(capsys, *argv) -> tuple[int, str, str]:
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_one_event_then_a_csv_then_json_lines(store_spec, tmp_path, capsys):
    assert run(capsys, "events", "add", "--store", store_spec, "--user", "u1", "--item", "i1", "--time", "100")[0] == 0
    csv_file = tmp_path / "events.csv"
    csv_file.write_text("user_id,item_id,timestamp\nu1,i2,200\nu2,i9,150\n")
    status, out, _ = run(capsys, "events", "add", "--store", store_spec, "--file", str(csv_file))
    assert status == 0 and "added 2 event(s)" in out
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text('{"user_id": "u1", "item_id": "i3", "timestamp": 300}\n\n{"user_id": "u2", "item_id": 7}\n')
    assert run(capsys, "events", "add", "--store", store_spec, "--file", str(jsonl))[0] == 0
    status, out, _ = run(capsys, "events", "show", "--store", store_spec, "--user", "u1", "--user", "u2",
                         "--user", "u3")
    assert out.splitlines() == ["u1: i1 i2 i3", "u2: i9 7", "u3: (no events)"]


@pytest.mark.parametrize("content, message", [
    ("user_id,item_id,timestamp\nu1,i1,10\nu2,,20\n", "events.txt: line 3: field item_id is missing or empty"),
    ("user_id,item_id,timestamp\nu1,i1,10\nu2,i2,yesterday\n",
     "events.txt: line 3: field timestamp must be Unix seconds, got 'yesterday'"),
    ("user_id,item_id,timestamp\nu1,i1,-5\n", "events.txt: line 2: field timestamp must be whole, non-negative"),
    ("user_id,item_id,timestamp\nu1,i1,1.5\n", "events.txt: line 2: field timestamp must be whole"),
    ("user_id,item_id\nu1,i1,extra\n", "events.txt: line 2: 3 fields where the header has 2"),
    ("user,item\nu1,i1\n", "events.txt: line 1: the header lacks column(s) ['user_id', 'item_id']"),
    ('{"user_id": "u1", "item_id": "i1"}\n{"user_id": "u2", "item_id": "i2"\n',
     "events.txt: line 2: not a JSON object"),
    ('{"user_id": "u1", "item_id": "i1"}\n["u2", "i2"]\n', "events.txt: line 2: not a JSON object"),
    ('{"user_id": "u1", "item_id": ["a"]}\n', "events.txt: line 1: field item_id must be a string"),
])
def test_a_bad_row_is_one_line_and_adds_nothing(content, message, tmp_path, capsys):
    spec = str(tmp_path / "events.sqlite")
    path = tmp_path / "events.txt"
    path.write_text(content)
    status, out, err = run(capsys, "events", "add", "--store", spec, "--file", str(path))
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    with open_store(spec) as store:
        assert store.count() == 0  # the good rows before the bad one were not written either


def test_bad_rows_can_be_skipped_and_counted(tmp_path, capsys):
    spec = str(tmp_path / "events.sqlite")
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\nu1,i1,10\nu2,,20\nu3,i3,x\nu4,i4,\n")
    status, out, _ = run(capsys, "events", "add", "--store", spec, "--file", str(path), "--skip-bad-rows")
    assert status == 0 and "added 2 event(s)" in out and "skipped 2 bad row(s)" in out


@pytest.mark.parametrize("argv, message", [
    (["--file", "missing.csv"], "missing.csv: no such events file"),
    (["--user", "u1"], "field item_id is missing"),
    ([], "give one event"),
    (["--user", "u1", "--item", "i1", "--file", "x.csv"], "give one event"),
    (["--user", "u1", "--item", "i1", "--time", "soon"], "field timestamp must be Unix seconds"),
])
def test_command_line_mistakes_are_one_line(argv, message, tmp_path, capsys):
    status, _, err = run(capsys, "events", "add", "--store", str(tmp_path / "e.sqlite"), *argv)
    assert status == 2 and message in err, err


def test_an_unreachable_or_unwritable_store_is_one_line(tmp_path, capsys):
    status, _, err = run(capsys, "events", "add", "--store", "redis://127.0.0.1:1/0", "--user", "u", "--item", "i")
    assert status == 2 and "event store redis://127.0.0.1:1/0" in err
    folder = tmp_path / "a-folder.sqlite"
    folder.mkdir()
    status, _, err = run(capsys, "events", "add", "--store", str(folder), "--user", "u", "--item", "i")
    assert status == 2 and f"event store {folder}" in err


def test_a_stream_is_written_as_it_arrives(tmp_path):
    """Lines piped into ``tfrec events add --file -`` are readable while the producer still runs."""
    spec = str(tmp_path / "events.sqlite")
    process = subprocess.Popen([sys.executable, "-m", "tfrec.cli", "events", "add", "--store", spec, "--file", "-"],
                               stdin=subprocess.PIPE, text=True)
    try:
        process.stdin.write("user_id,item_id,timestamp\nu1,i1,10\n")
        process.stdin.flush()
        with open_store(spec) as store:
            deadline = time.monotonic() + 60
            while store.latest(["u1"], 5)["u1"] != ["i1"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert store.latest(["u1"], 5)["u1"] == ["i1"]
            process.stdin.write("u1,i2,20\n")
            process.stdin.flush()
            while store.latest(["u1"], 5)["u1"] != ["i1", "i2"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert store.latest(["u1"], 5)["u1"] == ["i1", "i2"]
        process.stdin.close()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()


def test_a_bad_line_stops_a_stream_after_the_lines_before_it(tmp_path):
    with open_store(str(tmp_path / "events.sqlite")) as store:
        with pytest.raises(Exception, match="stdin: line 3: field timestamp"):
            add_stream(store, io.StringIO("user_id,item_id,timestamp\nu1,i1,10\nu1,i2,never\n"))
        assert store.latest(["u1"], 5)["u1"] == ["i1"]


def test_each_user_keeps_only_the_latest_events(tmp_path, capsys):
    spec = str(tmp_path / "events.sqlite")
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,timestamp\n" + "".join(f"u1,i{n},{n}\n" for n in range(10)))
    assert run(capsys, "events", "add", "--store", spec, "--file", str(path), "--keep", "3")[0] == 0
    with open_store(spec) as store:
        assert store.latest(["u1"], 10)["u1"] == ["i7", "i8", "i9"]
    with pytest.raises(SystemExit) as exit_:
        main(["events", "add", "--store", spec, "--user", "u", "--item", "i", "--keep", "0"])
    assert exit_.value.code == 2 and "--keep: must be at least 1, got 0" in capsys.readouterr().err
