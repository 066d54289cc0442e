"""The counts the reliability tests report: what was tried, and what came of it.

A test calls ``TALLY.add(area, what, **counts)``; the suite's conftest prints
every row after the run. Counts are plain numbers so they can be copied into
the documentation table unchanged.
"""

from __future__ import annotations

import threading


class Tally:
    """Rows of ``(area, what, {name: number})`` in the order they were added."""

    def __init__(self):
        self._rows: list[tuple[str, str, dict]] = []
        self._lock = threading.Lock()

    def add(self, area: str, what: str, **counts) -> None:
        with self._lock:
            self._rows.append((area, what, counts))

    def count(self, area: str, what: str, **increments) -> None:
        """Adds ``increments`` to the row ``(area, what)``, made on first use: for counts that
        many tests (or hypothesis examples) make up, whichever of them run."""
        with self._lock:
            for row_area, row_what, counts in self._rows:
                if (row_area, row_what) == (area, what):
                    for name, value in increments.items():
                        counts[name] = counts.get(name, 0) + value
                    return
            self._rows.append((area, what, dict(increments)))

    def lines(self) -> list[str]:
        out = []
        for area, what, counts in self._rows:
            numbers = ", ".join(f"{k}={_fmt(v)}" for k, v in counts.items())
            out.append(f"{area:<10} {what:<48} {numbers}")
        return out


def _fmt(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


TALLY = Tally()
