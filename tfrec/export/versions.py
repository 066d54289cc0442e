"""TF Serving's model base path layout, ``<base>/<model>/<integer version>/``, and claiming a new version.

Two exports at once must get two versions, and a half-written version must
never be seen. :func:`new_version` claims its number first, under a short
lock on the model's folder: it creates ``<base>/<model>/.<N>.partial/`` (a
dot-name, which TF Serving's version scan ignores), marks it with a lock its
own process holds, writes the SavedModel inside, syncs it, and renames it to
``<N>`` without ever replacing a folder. A claim whose process died (a kill
midway) is found by its free lock at the next export and removed, so its
number is used again.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil

from tfrec.atomic import fsync_folder, fsync_tree, rename_no_replace
from tfrec.errors import RunError
from tfrec.locks import describe_holder, file_lock, held

_CLAIM = re.compile(r"^\.(\d+)\.partial$")
_OWNER = ".owner"


def existing_versions(model_dir: str) -> list[int]:
    """Integer version folders of ``model_dir``, ascending; claims and temporary folders are ignored."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if name.isascii() and name.isdigit() and os.path.isdir(os.path.join(model_dir, name)))


def claimed_versions(model_dir: str) -> list[int]:
    """Version numbers that an export in progress (or one that died) has claimed."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(m.group(1)) for m in map(_CLAIM.match, os.listdir(model_dir)) if m)


def next_version(model_dir: str) -> int:
    """One more than the newest version or claim, so a new export never touches a live one."""
    taken = existing_versions(model_dir) + claimed_versions(model_dir)
    return max(taken, default=0) + 1


def version_path(base: str, model: str, version: int | None = None) -> str:
    """The folder of ``version`` (default: the newest) of ``model`` under ``base``."""
    model_dir = os.path.join(base, model)
    if version is None:
        versions = existing_versions(model_dir)
        if not versions:
            raise RunError(f"no exported versions of {model!r} under {os.path.abspath(base)}")
        version = versions[-1]
    path = os.path.join(model_dir, str(version))
    if not os.path.isdir(path):
        raise RunError(f"version {version} of {model!r} not found at {os.path.abspath(path)}")
    return path


@contextlib.contextmanager
def new_version(base: str, model: str, version: int | None = None, log=print):
    """Claims version ``version`` (default: the next free one) of ``model`` under ``base``.

    Yields ``(version, folder)``: write the SavedModel into ``folder`` (it
    does not exist yet). When the block succeeds, the folder is synced and
    published as ``<base>/<model>/<version>``; on error nothing is published
    and the claim is removed.
    """
    model_dir = os.path.abspath(os.path.join(base, model))
    os.makedirs(model_dir, exist_ok=True)
    what = f"the versions of {model!r} under {os.path.abspath(base)}"
    # The lock sits beside the model's folder, not in it: TF Serving's model folder holds versions only.
    lock = os.path.join(os.path.dirname(model_dir), f".{model}.versions.lock")
    with file_lock(lock, what, wait_seconds=120, log=log):
        _remove_abandoned_claims(model_dir, log)
        if version is None:
            version = next_version(model_dir)
        elif version in existing_versions(model_dir) or version in claimed_versions(model_dir):
            raise RunError(f"version {version} of {model!r} already exists under {os.path.abspath(base)} "
                           "(leave out --version to take the next free one)")
        claim = os.path.join(model_dir, f".{version}.partial")
        os.mkdir(claim)
        owner = file_lock(os.path.join(claim, _OWNER), f"version {version} of {model!r}", log=log)
        owner.__enter__()
    try:
        folder = os.path.join(claim, "saved")
        yield version, folder
        fsync_tree(folder)
        rename_no_replace(folder, os.path.join(model_dir, str(version)))
        fsync_folder(model_dir)
    finally:
        shutil.rmtree(claim, ignore_errors=True)
        owner.__exit__(None, None, None)  # after the removal: a claim is never seen unowned


def _remove_abandoned_claims(model_dir: str, log) -> None:
    """Removes claims whose export died; call with the versions lock held."""
    for version in claimed_versions(model_dir):
        claim = os.path.join(model_dir, f".{version}.partial")
        running, record = held(os.path.join(claim, _OWNER))
        if running:
            continue
        who = describe_holder(record) if record else "an export that died"
        log(f"removing the unfinished version {version} under {model_dir}, left by {who}")
        shutil.rmtree(claim, ignore_errors=True)
