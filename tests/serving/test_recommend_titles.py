"""``tfrec recommend --server`` prints titles: from ``--titles``, or from the answering version's export
under ``--base`` when this machine has it (and it names the recommended items), else ids only."""

import json
import os
import shutil

import pytest

from tests.serving.conftest import start_server
from tfrec import cli
from tfrec.export.retrieval_export import ITEMS_ASSET


@pytest.fixture(scope="module")
def dev_server(served_base):
    running = start_server("dev", served_base)
    yield running
    running.stop()


def _rows(text):
    """``(item id, title)`` of each printed recommendation line."""
    rows = []
    for line in text.splitlines():
        rank, _, rest = line.strip().partition(". ")
        if rank.isdigit():
            item, _score, *title = rest.split()
            rows.append((item, " ".join(title)))
    return rows


def _recommend(capsys, *args):
    status = cli.main(["recommend", "--user", "u1", "--user", "u2", "--k", "5", *args])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def test_titles_come_from_the_local_export_of_the_answering_version(dev_server, served_base, capsys):
    local = _recommend(capsys, "--base", served_base)
    remote = _recommend(capsys, "--server", dev_server.target, "--base", served_base)
    assert _rows(remote) == _rows(local) and len(_rows(local)) == 10
    assert all(title for _, title in _rows(remote))
    assert f"titles: {os.path.join(served_base, 'retrieval', '1', ITEMS_ASSET)}" in remote


def test_a_client_without_the_export_prints_ids_and_says_how_to_get_titles(dev_server, tmp_path, capsys):
    out = _recommend(capsys, "--server", dev_server.target, "--base", str(tmp_path / "elsewhere"))
    assert len(_rows(out)) == 10 and not any(title for _, title in _rows(out))
    assert "does not exist here; give --titles" in out


def test_a_local_export_of_another_catalogue_is_not_used(dev_server, tmp_path, capsys):
    other = tmp_path / "other" / "retrieval" / "1" / ITEMS_ASSET
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps({"not-an-item": "Wrong title"}))
    out = _recommend(capsys, "--server", dev_server.target, "--base", str(tmp_path / "other"))
    assert not any(title for _, title in _rows(out))
    assert "does not name every recommended item" in out


def test_titles_file_given_by_the_client(dev_server, served_base, tmp_path, capsys):
    copied = tmp_path / "shop_titles.json"
    shutil.copy(os.path.join(served_base, "retrieval", "1", ITEMS_ASSET), copied)
    local = _recommend(capsys, "--base", served_base)
    for titles in (str(copied), os.path.join(served_base, "retrieval", "1")):  # the file, or its version folder
        remote = _recommend(capsys, "--server", dev_server.target, "--base", str(tmp_path / "none"),
                            "--titles", titles)
        assert _rows(remote) == _rows(local)


@pytest.mark.parametrize("content, message", [(None, "no such file"), ("[1, 2]", "not a JSON mapping"),
                                              ("{broken", "not a JSON file")])
def test_a_bad_titles_file_is_one_line(dev_server, tmp_path, capsys, content, message):
    path = tmp_path / "titles.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["recommend", "--user", "u1", "--server", dev_server.target, "--titles", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
