"""MovieLens download: checksums and atomic placement, from a local file:// zip."""

import os
import zipfile

import pytest

from tfrec.data.download import (
    EXPECTED_MD5,
    ChecksumError,
    DownloadError,
    download_movielens_100k,
    file_md5,
)
from tfrec.data.movielens import load_movielens_100k

FILES = ("u.data", "u.item", "u.user", "u.genre")


def make_zip(source, target, tamper=None):
    """Zips the shared ml-100k files like GroupLens does (under ``ml-100k/``)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in FILES:
            data = (source / "ml-100k" / name).read_bytes()
            if name == tamper:
                data = data.replace(b"\t3\t", b"\t4\t", 1)
            zf.writestr(f"ml-100k/{name}", data)
    return target.as_uri()


def test_checksum_constants_match_shared_files(movielens_folder):
    for name, md5 in EXPECTED_MD5.items():
        assert file_md5(movielens_folder / "ml-100k" / name) == md5


def test_download_good_zip(movielens_folder, tmp_path):
    url = make_zip(movielens_folder, tmp_path / "ml-100k.zip")
    dest = tmp_path / "out" / "movielens"
    path = download_movielens_100k(dest, url=url)
    assert path == str(dest)
    assert sorted(os.listdir(dest)) == ["ml-100k"]
    assert set(FILES) <= set(os.listdir(dest / "ml-100k"))
    dataset, _ = load_movielens_100k(path)
    assert len(dataset.interactions) == 100_000
    assert sorted(os.listdir(tmp_path / "out")) == ["movielens"]  # no temporary left


def test_tampered_zip_leaves_nothing(movielens_folder, tmp_path):
    url = make_zip(movielens_folder, tmp_path / "bad.zip", tamper="u.data")
    dest = tmp_path / "out" / "movielens"
    with pytest.raises(ChecksumError, match="u.data has MD5 .* expected 6e47046882bad158b0efbb84cd5cb987"):
        download_movielens_100k(dest, url=url)
    assert os.listdir(tmp_path / "out") == []


def test_an_existing_download_is_kept_and_nothing_is_fetched(movielens_folder, tmp_path):
    dest = tmp_path / "movielens"
    download_movielens_100k(dest, url=make_zip(movielens_folder, tmp_path / "good.zip"))
    before = {name: file_md5(dest / "ml-100k" / name) for name in FILES}
    # A second call does not fetch at all: not even a bad or missing archive matters.
    download_movielens_100k(dest, url=(tmp_path / "nope.zip").as_uri())
    assert {name: file_md5(dest / "ml-100k" / name) for name in FILES} == before
    assert sorted(os.listdir(dest)) == ["ml-100k"]


def test_the_destination_keeps_what_it_held(movielens_folder, tmp_path):
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("my file")
    (dest / "sub").mkdir()
    with pytest.raises(ChecksumError):
        download_movielens_100k(dest, url=make_zip(movielens_folder, tmp_path / "bad.zip", tamper="u.data"))
    assert sorted(os.listdir(dest)) == ["notes.txt", "sub"]  # the failed download left nothing
    download_movielens_100k(dest, url=make_zip(movielens_folder, tmp_path / "good.zip"))
    assert sorted(os.listdir(dest)) == ["ml-100k", "notes.txt", "sub"]
    assert (dest / "notes.txt").read_text() == "my file"


def test_a_foreign_ml_100k_folder_is_refused_and_left_alone(movielens_folder, tmp_path):
    dest = tmp_path / "mine"
    (dest / "ml-100k").mkdir(parents=True)
    (dest / "ml-100k" / "u.data").write_text("1\t2\t3\t4\n")
    with pytest.raises(DownloadError, match="exists and is not a complete MovieLens 100K"):
        download_movielens_100k(dest, url=make_zip(movielens_folder, tmp_path / "good.zip"))
    assert os.listdir(dest / "ml-100k") == ["u.data"]
    assert (dest / "ml-100k" / "u.data").read_text() == "1\t2\t3\t4\n"


def test_dest_dot_writes_only_ml_100k(movielens_folder, tmp_path, monkeypatch):
    (tmp_path / "keep.txt").write_text("x")
    url = make_zip(movielens_folder, tmp_path / "good.zip")
    monkeypatch.chdir(tmp_path)
    download_movielens_100k(".", url=url)
    assert sorted(os.listdir(tmp_path)) == ["good.zip", "keep.txt", "ml-100k"]


def test_missing_file_and_not_a_zip(tmp_path):
    with pytest.raises(DownloadError, match="could not download"):
        download_movielens_100k(tmp_path / "a", url=(tmp_path / "nope.zip").as_uri())
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        download_movielens_100k(tmp_path / "b", url=junk.as_uri())
    assert sorted(os.listdir(tmp_path)) == ["junk.zip"]


def test_the_command_keeps_what_the_destination_held(movielens_folder, tmp_path, capsys):
    from tfrec.cli import main

    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "mine.csv").write_text("a,b\n")
    url = make_zip(movielens_folder, tmp_path / "good.zip")
    assert main(["data", "download", "movielens-100k", "--dest", str(dest), "--url", url]) == 0
    assert sorted(os.listdir(dest)) == ["mine.csv", "ml-100k"] and (dest / "mine.csv").read_text() == "a,b\n"
    bad = make_zip(movielens_folder, tmp_path / "bad.zip", tamper="u.data")
    assert main(["data", "download", "movielens-100k", "--dest", str(tmp_path / "other"), "--url", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfrec data download: error: u.data has MD5") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "other").exists()
