"""Downloads MovieLens 100K from GroupLens and checks it before anyone reads it.

The zip is fetched and extracted inside a temporary folder beside the
destination; only when the MD5 checksums of ``u.data``, ``u.item`` and
``u.user`` match the published files is the folder renamed into place. A
failed download or a mismatch leaves nothing behind (and leaves an existing
destination untouched).

This is the only code in tfrec that uses the network, and only when a user
asks for it explicitly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile

from tfrec.atomic import atomic_directory

DEFAULT_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"

EXPECTED_MD5 = {
    "u.data": "6e47046882bad158b0efbb84cd5cb987",
    "u.item": "c9e7f390115d79079537301d5204f3f7",
    "u.user": "1b53539edc13caad0282c8500608a319",
}
"""MD5 of the files the loader reads, as published by GroupLens."""

TIMEOUT_SECONDS = 120


class ChecksumError(ValueError):
    """A downloaded file is not the published MovieLens file."""


class DownloadError(OSError):
    """The archive could not be fetched or is not a usable zip."""


def download_movielens_100k(dest_folder, url: str = DEFAULT_URL) -> str:
    """Downloads, extracts and checks MovieLens 100K; returns ``dest_folder``'s absolute path.

    The result holds ``ml-100k/u.data`` etc., the layout
    :func:`tfrec.data.movielens.load_movielens_100k` reads. ``url`` may be any
    URL urllib opens, including ``file://`` for a local copy of the zip. An
    existing ``dest_folder`` is replaced only after the new files check out.

    Raises:
      DownloadError: the URL cannot be read or the archive is not a valid zip.
      ChecksumError: a file is missing from the archive or differs from the
        published one.
    """
    dest = os.path.abspath(str(dest_folder))
    with atomic_directory(dest) as tmp:
        archive = os.path.join(tmp, "ml-100k.zip")
        _fetch(url, archive)
        _extract(archive, tmp, url)
        os.remove(archive)
        data_folder = _normalise_layout(tmp, url)
        verify_checksums(data_folder)
    return dest


def _fetch(url: str, target: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, \
                open(target, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadError(f"could not download {url}: {e}") from e


def _extract(archive: str, folder: str, url: str) -> None:
    """Extracts ``archive`` into ``folder``, refusing entries that would land outside it."""
    root = os.path.realpath(folder)
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                target = os.path.realpath(os.path.join(root, name))
                if not target.startswith(root + os.sep):
                    raise DownloadError(f"{url}: archive entry {name!r} points outside the folder")
            zf.extractall(root)
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{url} is not a valid zip archive: {e}") from e


def _normalise_layout(folder: str, url: str) -> str:
    """Moves the files so they sit in ``folder/ml-100k``; returns that folder."""
    expected = os.path.join(folder, "ml-100k")
    if os.path.exists(os.path.join(expected, "u.data")):
        return expected
    for current, _, names in os.walk(folder):
        if "u.data" in names:
            if current == folder:
                _move_into(folder, expected)
            else:
                os.rename(current, expected)
            return expected
    raise ChecksumError(f"{url}: the archive holds no u.data")


def _move_into(folder: str, target: str) -> None:
    names = os.listdir(folder)
    os.makedirs(target)
    for name in names:
        os.rename(os.path.join(folder, name), os.path.join(target, name))


def file_md5(path: str) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksums(folder: str, expected: dict = EXPECTED_MD5) -> None:
    """Raises :class:`ChecksumError` unless every file in ``expected`` matches."""
    for name, md5 in expected.items():
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            raise ChecksumError(f"{name} is missing from the downloaded archive")
        actual = file_md5(path)
        if actual != md5:
            raise ChecksumError(
                f"{name} has MD5 {actual}, expected {md5}: the download is corrupt or "
                "not the published MovieLens 100K; nothing was kept"
            )
