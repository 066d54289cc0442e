"""Errors caused by the user rather than by a bug.

Everything a user can cause (a bad config value, a bad row, a missing or busy
run folder, a full disk) is a ``UserError``: the CLI prints it as one line and
exits with status 2, and nothing is left half-written. Any other exception is a
bug and keeps its traceback.

This module imports nothing of tfrec, so every layer can raise these.
"""

from __future__ import annotations

import errno
import re


class UserError(Exception):
    """Something the user can fix; the message says what, where, and what is allowed."""


class ConfigError(UserError, ValueError):
    """A configuration file or value is not valid."""


class DataError(UserError):
    """The data cannot serve as configured: too small to split, nothing left to validate or test on."""


class RunError(UserError):
    """A run folder is missing, unfinished, finished, in use, or its files do not belong together."""


class BusyError(RunError):
    """Another command holds the lock of what this command wants to write."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named (or a run needs) is not there."""


class StorageError(UserError):
    """The file system refused a write or a read: full, read-only, no permission, a missing path."""


# What the operating system reports about a user's paths and disks, as opposed to a bug.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
                  errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EFBIG}


def storage_error(error: OSError) -> StorageError | None:
    """The ``StorageError`` an ``OSError`` about a path or a disk stands for (None for other errors)."""
    if error.errno not in STORAGE_ERRNOS:
        return None
    where = error.filename if error.filename is not None else ""
    if error.filename2 is not None:
        where = f"{where} -> {error.filename2}"
    reason = error.strerror or str(error)
    return StorageError(f"{where}: {reason}" if where else reason)


def tensorflow_storage_error(error: Exception) -> StorageError | None:
    """The same for TensorFlow's file errors, which carry the OS reason only in their message."""
    lines = str(getattr(error, "message", None) or error).splitlines()
    for reason in ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded"):
        for line in lines:
            if reason in line:
                line = re.sub(r"\{\{[^}]*\}\}\s*", "", line)  # TensorFlow's op wrapper: not the user's concern
                return StorageError(re.sub(r"\s*\[Op:\w+\]", "", line).strip())
    return None
