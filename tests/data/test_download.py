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


def test_tampered_zip_keeps_existing_destination(movielens_folder, tmp_path):
    dest = tmp_path / "movielens"
    download_movielens_100k(dest, url=make_zip(movielens_folder, tmp_path / "good.zip"))
    with pytest.raises(ChecksumError):
        download_movielens_100k(dest, url=make_zip(movielens_folder, tmp_path / "bad.zip",
                                                   tamper="u.data"))
    assert file_md5(dest / "ml-100k" / "u.data") == EXPECTED_MD5["u.data"]
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith(".")) == []


def test_missing_file_and_not_a_zip(tmp_path):
    with pytest.raises(DownloadError, match="could not download"):
        download_movielens_100k(tmp_path / "a", url=(tmp_path / "nope.zip").as_uri())
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DownloadError, match="not a valid zip"):
        download_movielens_100k(tmp_path / "b", url=junk.as_uri())
    assert sorted(os.listdir(tmp_path)) == ["junk.zip"]
