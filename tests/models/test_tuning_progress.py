"""A baseline's search prints one line per candidate: its value, its validation score, the time left."""

import re

from tfrec.models.ease import tune_on_validation
from tfrec.models.tuning_progress import duration

from tests.models.test_ease import ITEMS, TRAIN, frame


def test_each_candidate_prints_its_value_and_validation_score_in_the_order_tried():
    val = frame([("u1", "c"), ("u4", "e"), ("u3", "c")])
    lines = []
    # A best value on the grid's edge: the search steps past it, up to 2 more candidates.
    _, results = tune_on_validation(ITEMS, TRAIN, val, l2_grid=(1e3, 1e4), extend=2, factor=10.0, log=lines.append)
    assert lines[0].startswith("EASE: choosing l2 among 1000, 10000") and "2 candidate(s)" in lines[0]
    tried = lines[1:]
    assert len(tried) == len(results)
    for line, (l2, metrics) in zip(tried, results.items()):
        assert f"l2={l2:g}:" in line and f"validation ndcg@10 {metrics['ndcg@10']:.4f}" in line
        assert re.search(r"elapsed \d+s, ETA (<= )?\d+s\]$", line)
    counts = [re.search(r"\[(\d+)/", line).group(1) for line in tried]
    assert counts == [str(i) for i in range(1, len(results) + 1)]


def test_durations_read_as_minutes_and_hours():
    assert [duration(s) for s in (4.6, 185, 3725)] == ["5s", "3m05s", "1h02m"]
