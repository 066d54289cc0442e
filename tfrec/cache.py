"""The user's cache folder: work that any run may reuse, keyed by what it was computed from.

``$TFREC_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/tfrec``, else
``~/.cache/tfrec``. What lives there is derived data only (encoded catalogue
vectors, converted weights), each entry named by a hash of its inputs and
written atomically, so it can be deleted at any time and two processes filling
it at once never corrupt it. Runs never depend on it: a run keeps its own copy
of what it trained on.
"""

from __future__ import annotations

import os


def cache_dir(*parts: str) -> str:
    """``<cache>/<parts...>`` (not created)."""
    root = os.environ.get("TFREC_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "tfrec")
    return os.path.join(root, *parts)
