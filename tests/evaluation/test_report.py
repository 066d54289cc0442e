"""``tfrec report``: plots and a Markdown summary from a run folder."""

import json


from tfrec.cli import main


def test_report_has_curves_tables_and_images(tiny_run, tmp_path, capsys):
    assert main(["evaluate", "--run", str(tiny_run)]) == 0
    latency = tmp_path / "latency.json"
    latency.write_text(json.dumps({"in-process": {"corpus_size": [1000, 100000], "p50_ms": [0.2, 3.0],
                                                  "p99_ms": [0.5, 6.0]}}))
    assert main(["report", "--run", str(tiny_run), "--latency", str(latency)]) == 0
    folder = tiny_run / "report"
    for name in ("training_curves.png", "warm_at_k.png", "latency.png"):
        data = (folder / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    text = (folder / "report.md").read_text()
    assert "popularity" in text and "recall@5" in text and "![training curves](training_curves.png)" in text
    evaluation = json.loads((tiny_run / "evaluation.json").read_text())
    assert {"recall@1", "recall@50", "ndcg@5"} <= set(evaluation["warm"]["tiny"])


def test_report_on_an_empty_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["report", "--run", str(tmp_path)]) == 2
    assert "is not a trained run (no run.json)" in capsys.readouterr().err
