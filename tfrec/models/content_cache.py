"""Encoded item content shared by every run: one vector per (encoder, content), in the user's cache.

A frozen encoder gives the same vector for the same text or image whatever
run asks, so the vectors live in ``<cache>/content/<encoder key>/`` (see
:func:`tfrec.cache.cache_dir`), not in a run: the multimodal, sequential,
cold-start and two-stage runs of one catalogue encode it once between them,
and a changed overview or poster is the only one encoded again.

* The **encoder key** names the modality, the encoder's weights (a checksum
  of the exported module's variables) and its preprocessing settings (text:
  preset, sequence length, pooling...; image: variant, image size...), and
  the cache's format.
* Each item's **content key** is a hash of its text (UTF-8) or its image
  bytes; items that share content share a vector.
* Vectors are written in chunks (``<chunk>.npz``: the content keys, the
  vectors and a sha256 of both), each with :func:`tfrec.atomic.atomic_file`
  under a name of its own, so two trainings filling the cache at once add two
  chunks and never write into one another's. A chunk that does not load or
  whose checksum does not match is reported, removed, and its items encoded
  again.

Runs copy the vectors they train on into their own folder (``data/``), so a
run never depends on the cache; the cache can be deleted at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

import numpy as np

from tfrec.atomic import atomic_file

FORMAT = "2"  # 2: empty texts are zeros ("missing"), content keyed per item


def encoder_key(modality: str, settings: dict, weights_fingerprint: str) -> str:
    """``<modality>-<hash>``: what decides the vectors besides the content."""
    digest = hashlib.sha256(f"{FORMAT}\0{modality}\0{weights_fingerprint}\0".encode())
    digest.update(repr(sorted(settings.items())).encode())
    return f"{modality}-{digest.hexdigest()[:20]}"


def content_key(content: str | bytes) -> str:
    """The hash of one item's text or image bytes."""
    raw = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    return hashlib.sha1(raw).hexdigest()


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256("\n".join(keys.tolist()).encode())
    digest.update(str(vectors.shape).encode() + np.ascontiguousarray(vectors, np.float32).tobytes())
    return digest.hexdigest()


class ContentCache:
    """The chunks of one encoder key: ``lookup`` what is there, ``store`` what was encoded."""

    def __init__(self, root: str, key: str, log=print):
        self.key, self.folder, self.log = key, os.path.join(root, key), log

    def chunks(self) -> list[str]:
        if not os.path.isdir(self.folder):
            return []
        return sorted(os.path.join(self.folder, n) for n in os.listdir(self.folder)
                      if n.endswith(".npz") and not n.startswith("."))

    def lookup(self, keys) -> dict[str, np.ndarray]:
        """The cached vector of each of ``keys`` that has one (corrupt chunks are removed, not used)."""
        wanted, found = set(keys), {}
        for path in self.chunks():
            if not wanted - found.keys():
                break
            stored = self._read(path)
            if stored is None:
                continue
            for key, vector in zip(*stored):
                if key in wanted:
                    found[key] = vector
        return found

    def _read(self, path: str):
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, vectors, checksum = data["keys"], data["vectors"], str(data["checksum"])
            if len(keys) != len(vectors) or _checksum(keys, vectors) != checksum:
                raise ValueError("checksum mismatch")
        except Exception as e:  # noqa: BLE001  (any unreadable chunk is the same case: encode again)
            self.log(f"content cache: {path} is corrupt ({type(e).__name__}: {e}); removed, its items are "
                     "encoded again")
            with contextlib.suppress(OSError):
                os.remove(path)
            return None
        return keys.tolist(), vectors

    def store(self, keys: list[str], vectors: np.ndarray) -> str | None:
        """Adds a chunk of newly encoded vectors; returns its path (None for no vectors)."""
        if not len(keys):
            return None
        keys = np.asarray(keys, dtype=str)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        checksum = _checksum(keys, vectors)
        path = os.path.join(self.folder, f"{checksum[:24]}.npz")
        with atomic_file(path, "wb") as f:
            np.savez(f, keys=keys, vectors=vectors, checksum=np.asarray(checksum))
        return path
