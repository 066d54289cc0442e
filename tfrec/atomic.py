"""Write a folder or file completely or not at all, and never over what another command wrote.

Everything tfrec writes (data sets, SavedModels, run files, reports) goes to a
temporary sibling first, is synced to disk, and is renamed into place, so a
crash, a kill or a full disk never leaves a half-written result where a reader
(or TF Serving) would pick it up. Folders are placed with Linux's
``renameat2``: ``RENAME_NOREPLACE`` fails instead of replacing a folder that
appeared meanwhile (another command's), and ``RENAME_EXCHANGE`` swaps a new
folder for an old one in one step. Elsewhere, a check right before a plain
rename stands in for them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile

_UMASK = os.umask(0o022)
os.umask(_UMASK)
# Temporary files and folders are private while written; what is published gets the usual modes.
_FILE_MODE, _FOLDER_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK
_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100
_libc = None


def _renameat2(source: str, target: str, flags: int) -> bool:
    """``renameat2(source, target, flags)``; False when the system has no such call."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _libc.renameat2  # noqa: B018  (present since glibc 2.28)
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    if _libc.renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return True
    number = ctypes.get_errno()
    if number in (errno.ENOSYS, errno.EINVAL):  # a kernel or file system without it
        return False
    raise OSError(number, os.strerror(number), source, None, target)


def rename_no_replace(source: str, target: str) -> None:
    """Renames ``source`` to ``target``; ``FileExistsError`` if ``target`` exists (never replaced)."""
    if _renameat2(source, target, _RENAME_NOREPLACE):
        return
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
    os.rename(source, target)


def fsync_tree(path: str) -> None:
    """Flushes every file and folder under ``path`` (and ``path`` itself) to disk."""
    if os.path.isfile(path):
        _fsync(path, os.O_RDONLY)
        return
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                _fsync(full, os.O_RDONLY)
        _fsync(folder, os.O_RDONLY | os.O_DIRECTORY)


def fsync_folder(path: str) -> None:
    _fsync(path, os.O_RDONLY | os.O_DIRECTORY)


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(path: str, if_exists: str = "replace"):
    """Yields a temporary folder that becomes ``path`` when the block succeeds.

    The temporary folder sits beside ``path`` (same file system, so the final
    rename is atomic) and starts with a dot, so TF Serving's version scan,
    which only takes integer names, never sees it. On error it is removed.

    ``if_exists`` says what happens when ``path`` exists at the end:
    ``"replace"`` swaps the new folder in (the old one is removed after);
    ``"error"`` raises ``FileExistsError`` and keeps both the old folder and
    nothing of the new; ``"keep"`` keeps the existing folder and drops the new
    one (write-once caches: whoever finishes first wins, both saw the same).
    """
    if if_exists not in ("replace", "error", "keep"):
        raise ValueError(f"if_exists must be 'replace', 'error' or 'keep', got {if_exists!r}")
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    if if_exists == "error" and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        yield tmp
        os.chmod(tmp, _FOLDER_MODE)
        fsync_tree(tmp)
        try:
            rename_no_replace(tmp, path)
        except FileExistsError:
            if if_exists == "error":
                raise
            if if_exists == "keep":
                shutil.rmtree(tmp, ignore_errors=True)
                return
            _swap_in(tmp, path)
        fsync_folder(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(tmp: str, path: str) -> None:
    """Puts the folder ``tmp`` at ``path`` in place of the folder there, then removes the old one."""
    if _renameat2(tmp, path, _RENAME_EXCHANGE):
        shutil.rmtree(tmp, ignore_errors=True)  # ``tmp`` now names the old folder
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=os.path.dirname(path))
    os.rename(path, os.path.join(old, "x"))
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str, mode: str = "w"):
    """Yields an open temporary file that replaces ``path`` (synced) when the block succeeds."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
        fsync_folder(os.path.dirname(path))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
