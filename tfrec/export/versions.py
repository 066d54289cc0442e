"""TF Serving's model base path layout: ``<base>/<model>/<integer version>/``."""

from __future__ import annotations

import os


def existing_versions(model_dir: str) -> list[int]:
    """Integer version folders of ``model_dir``, ascending; temporary folders are ignored."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if name.isascii() and name.isdigit() and os.path.isdir(os.path.join(model_dir, name)))


def next_version(model_dir: str) -> int:
    """One more than the newest version, so a new export never touches a live one."""
    versions = existing_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def version_path(base: str, model: str, version: int | None = None) -> str:
    """The folder of ``version`` (default: the newest) of ``model`` under ``base``."""
    model_dir = os.path.join(base, model)
    if version is None:
        versions = existing_versions(model_dir)
        if not versions:
            raise FileNotFoundError(f"no exported versions of {model!r} under {os.path.abspath(base)}")
        version = versions[-1]
    path = os.path.join(model_dir, str(version))
    if not os.path.isdir(path):
        raise FileNotFoundError(f"version {version} of {model!r} not found at {os.path.abspath(path)}")
    return path
