"""Progress lines: one at the start, at most one per interval with rate and time left, one at the end."""

from tfrec.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_are_rate_limited_and_say_rate_and_time_left():
    clock, lines = Clock(), []
    progress = Progress("encoding text", total=1000, log=lines.append, every_seconds=5.0, clock=clock)
    for _ in range(10):
        clock.now += 1.0
        progress.advance(50)  # 50 items/s
    progress.finish()
    assert lines[0] == "encoding text: 1,000 items"
    middle = lines[1:-1]
    assert middle == ["encoding text: 250/1,000 items (25%), 50 items/s, 15 s left",
                      "encoding text: 500/1,000 items (50%), 50 items/s, 10 s left"]
    assert lines[-1] == "encoding text: 500 items in 10.0 s (50 items/s)"


def test_no_work_prints_nothing_and_short_work_only_its_result():
    lines = []
    Progress("encoding image", total=0, log=lines.append).finish()
    assert lines == []
    clock = Clock()
    short = Progress("encoding image", total=3, log=lines.append, clock=clock, announce=False)
    clock.now = 0.5
    short.advance(3)
    short.finish()
    assert lines == ["encoding image: 3 items in 0.5 s (6 items/s)"]
