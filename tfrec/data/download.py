"""Downloads MovieLens 100K from GroupLens and checks it before anyone reads it.

The zip is fetched and extracted inside a temporary folder in the
destination; only when the MD5 checksums of ``u.data``, ``u.item`` and
``u.user`` match the published files is it renamed to ``ml-100k``, a folder
of its own: nothing else in the destination is touched. A failed download or
a mismatch leaves nothing behind.

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
from tfrec.errors import UserError

DEFAULT_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"

EXPECTED_MD5 = {
    "u.data": "6e47046882bad158b0efbb84cd5cb987",
    "u.item": "c9e7f390115d79079537301d5204f3f7",
    "u.user": "1b53539edc13caad0282c8500608a319",
}
"""MD5 of the files the loader reads, as published by GroupLens."""

TIMEOUT_SECONDS = 120


class ChecksumError(UserError, ValueError):
    """A downloaded file is not the published MovieLens file."""


class DownloadError(UserError, OSError):
    """The archive could not be fetched or is not a usable zip."""


def download_movielens_100k(dest_folder, url: str = DEFAULT_URL, log=print) -> str:
    """Downloads, extracts and checks MovieLens 100K into ``dest_folder/ml-100k``; returns ``dest_folder``.

    The result holds ``ml-100k/u.data`` etc., the layout
    :func:`tfrec.data.movielens.load_movielens_100k` reads. ``url`` may be any
    URL urllib opens, including ``file://`` for a local copy of the zip.

    Only ``ml-100k`` is written, and only when it is not there yet: whatever
    else ``dest_folder`` holds is left alone, an existing ``ml-100k`` that
    checks out is kept as it is (nothing is fetched), and one that does not is
    refused, never replaced. A folder this call created is removed again when
    the download fails.

    Raises:
      DownloadError: the URL cannot be read, the archive is not a valid zip,
        or ``dest_folder/ml-100k`` exists and is not the published data.
      ChecksumError: a file is missing from the archive or differs from the
        published one.
    """
    dest = os.path.abspath(str(dest_folder))
    target = os.path.join(dest, "ml-100k")
    if os.path.lexists(target):
        try:
            verify_checksums(target)
        except ChecksumError as e:
            raise DownloadError(f"{target} exists and is not a complete MovieLens 100K ({e}); move it away "
                                "or choose another --dest") from None
        log(f"{target} is already there and checks out; nothing downloaded")
        return dest
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise DownloadError(f"{dest} exists and is not a folder")
    created = not os.path.exists(dest)
    os.makedirs(dest, exist_ok=True)
    try:
        with atomic_directory(target, if_exists="error") as tmp:
            archive = os.path.join(tmp, "ml-100k.zip")
            _fetch(url, archive)
            _extract(archive, tmp, url)
            os.remove(archive)
            _flatten(tmp, url)
            verify_checksums(tmp)
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise
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


def _flatten(folder: str, url: str) -> None:
    """Moves the data files up so they sit directly in ``folder`` (the zip holds ``ml-100k/u.data``)."""
    if os.path.exists(os.path.join(folder, "u.data")):
        return
    for current, _, names in os.walk(folder):
        if "u.data" in names:
            for name in os.listdir(current):
                os.rename(os.path.join(current, name), os.path.join(folder, name))
            while current != folder:  # the emptied folders the files came from
                os.rmdir(current)
                current = os.path.dirname(current)
            return
    raise ChecksumError(f"{url}: the archive holds no u.data")


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
