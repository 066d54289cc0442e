"""Progress of a baseline's hyper-parameter search: one line per value tried.

A search fits and evaluates the model once per candidate; on a large
catalogue one candidate takes minutes (EASE inverts an items x items
matrix), so each prints which value it was, its validation score, how long
it took, the time so far and an estimate of the time left (the mean time per
candidate times the candidates left; "<=" when the search may stop early).
"""

from __future__ import annotations

import time


def duration(seconds: float) -> str:
    """``45s``, ``3m05s`` or ``1h02m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TuningProgress:
    """Prints a line per candidate to ``log`` (nothing when ``log`` is None).

    Args:
      model: the name printed first (``EASE``).
      planned: how many candidates the search will try at least.
      metric: the validation metric candidates are compared by.
      log: where lines go, e.g. ``print``.
    """

    def __init__(self, model: str, planned: int, metric: str, log=None):
        self.model, self.planned, self.metric, self.log = model, int(planned), metric, log
        self.at_most = 0  # candidates the search may still add (EASE past the grid's edge)
        self.done = 0
        self.start = self.last = time.monotonic()

    def begin(self, what: str) -> None:
        """A first line, before the first (possibly long) candidate: what is searched over."""
        if self.log is not None:
            self.log(f"{self.model}: {what}, {self.planned} candidate(s) by validation {self.metric}")

    def may_add(self, count: int) -> None:
        """The search may try up to ``count`` more candidates than planned."""
        self.at_most += int(count)

    def stop_adding(self) -> None:
        """The extra candidates announced by :meth:`may_add` will not be tried."""
        self.planned, self.at_most = self.done, 0

    def tried(self, params: str, value: float) -> None:
        now = time.monotonic()
        self.done += 1
        if self.done > self.planned:  # an added candidate: from the announced extra ones
            self.planned, self.at_most = self.done, max(self.at_most - 1, 0)
        took, elapsed = now - self.last, now - self.start
        self.last = now
        if self.log is None:
            return
        left = self.planned + self.at_most - self.done
        bound = "<= " if self.at_most else ""
        of = f"{self.planned}{f'+{self.at_most}' if self.at_most else ''}"
        self.log(f"  {self.model} {params}: validation {self.metric} {value:.4f}  "
                 f"[{self.done}/{of}, {duration(took)}; elapsed {duration(elapsed)}, "
                 f"ETA {bound}{duration(left * elapsed / self.done)}]")
