"""Locks that say who holds them: one writer at a time for a run folder or a model's versions.

A lock is a small file locked with ``flock``: the kernel releases it when its
holder exits, however it exits (``kill -9`` included), so a lock is never left
behind by a dead process. The exclusive holder writes who it is (pid, host,
command, start time) into the file; a second command that wants the lock
either refuses at once with an error naming that holder or, for short
critical sections, waits. A record left by a holder that died is reported
and taken over.

Readers take the lock shared: any number of them at once, but no writer
meanwhile, so a run is never read while it is being rewritten.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import time

from tfrec.errors import BusyError, StorageError


def describe_holder(record: dict) -> str:
    """``pid 123 on host (tfrec train --run runs/demo), started 2026-12-03 10:48:22``."""
    host = record.get("host", "?")
    where = "" if host == socket.gethostname() else f" on {host}"
    return (f"pid {record.get('pid', '?')}{where} ({record.get('command', '?')}), "
            f"started {record.get('started', '?')}")


def current_command() -> str:
    args = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]]
    return " ".join(args)[:300]


@contextlib.contextmanager
def file_lock(path: str, what: str, shared: bool = False, wait_seconds: float = 0.0, log=print):
    """Holds the lock at ``path`` for the block; ``what`` names the locked thing in messages.

    Raises ``BusyError`` (naming the holder) when the lock is held elsewhere
    and does not come free within ``wait_seconds``.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if not shared or e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StorageError(f"{what}: cannot create the lock file {path}: {e.strerror}") from None
        try:  # a reader of a folder it may not write: lock the existing file read-only, if there is one
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield None  # no writer can hold a lock there either
            return
    locked = False
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(_busy_message(what, _read_record(fd), shared)) from None
                time.sleep(0.05)
        previous = _read_record(fd)
        if not shared:
            if previous:
                log(f"{what}: taking over the lock of {describe_holder(previous)}, which is no longer running")
            _write_record(fd, {"pid": os.getpid(), "host": socket.gethostname(), "command": current_command(),
                               "started": datetime.datetime.now().isoformat(sep=" ", timespec="seconds")})
        yield previous
    finally:
        if locked and not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)


def held(path: str) -> tuple[bool, dict | None]:
    """``(whether a live process holds the lock at path, the record in it)``; a record in a lock
    that nobody holds was left by a holder that died."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, _read_record(fd)
        return False, _read_record(fd)
    finally:
        os.close(fd)


def _busy_message(what: str, holder: dict | None, shared: bool) -> str:
    if holder:
        return (f"{what} is in use by {describe_holder(holder)}; wait for it to finish "
                "(or stop it) and run this command again")
    if shared:
        return f"{what} is being written by another command; run this command again when it has finished"
    return f"{what} is being read by another command; run this command again when it has finished"


def _read_record(fd: int) -> dict | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 4096).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not text:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {"command": "unknown (unreadable lock record)"}
    return record if isinstance(record, dict) else None


def _write_record(fd: int, record: dict) -> None:
    data = json.dumps(record).encode()
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data)
        os.fsync(fd)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise StorageError(f"cannot write the lock record: {e.strerror}") from None
        raise
