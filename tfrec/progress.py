"""One line every few seconds for long loops: done/total, share, rate and time left.

    progress = Progress("encoding text", total=10_000, unit="items", log=log)
    for batch in batches:
        ...
        progress.advance(len(batch))
    progress.finish()

The first line is printed at once (so a step that takes long says so before
its first result; ``announce=False`` leaves it out for work known to be short), then at most one line every ``every_seconds``, and one
summary line at the end. Nothing is printed for a loop of no work.
"""

from __future__ import annotations

import time


class Progress:
    def __init__(self, what: str, total: int, unit: str = "items", log=print, every_seconds: float = 5.0,
                 clock=time.monotonic, announce: bool = True):
        self.what, self.total, self.unit, self.log = what, int(total), unit, log
        self.every_seconds, self.clock = every_seconds, clock
        self.done = 0
        self.started = self.last_line = clock()
        if self.total > 0 and announce:
            self.log(f"{what}: {self.total:,} {unit}")

    @property
    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, count: int) -> None:
        self.done += int(count)
        now = self.clock()
        if now - self.last_line >= self.every_seconds and self.done < self.total:
            self.last_line = now
            rate = self.rate
            left = f", {(self.total - self.done) / rate:.0f} s left" if rate > 0 else ""
            self.log(f"{self.what}: {self.done:,}/{self.total:,} {self.unit} ({self.done / self.total:.0%}), "
                     f"{rate:,.0f} {self.unit}/s{left}")

    def finish(self) -> None:
        if self.total > 0:
            seconds = self.clock() - self.started
            self.log(f"{self.what}: {self.done:,} {self.unit} in {seconds:.1f} s ({self.rate:,.0f} {self.unit}/s)")
