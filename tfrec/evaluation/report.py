"""``tfrec report RUN``: plots and a Markdown summary of a trained and evaluated run.

Writes ``RUN/report/``: ``training_curves.png`` (loss and validation
Recall/NDCG per epoch), ``recall_at_k.png`` (test Recall@K and NDCG@K of the
model and its baselines for every evaluated K), ``latency.png`` when a
serving or speed benchmark JSON with latency against corpus size is given,
and ``report.md`` with the tables. Images are PNG so they show in any
Markdown viewer; the report is rewritten atomically.
"""

from __future__ import annotations

import json
import os
import re

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from tfrec.atomic import atomic_file  # noqa: E402
from tfrec.errors import UserError  # noqa: E402
from tfrec.evaluation.full_ranking import format_table  # noqa: E402
from tfrec.run_folder import RunFolder  # noqa: E402


def _metric_curve(metrics: dict, name: str) -> tuple[list[int], list[float]]:
    ks = sorted(int(m.group(1)) for key in metrics if (m := re.fullmatch(rf"{name}@(\d+)", key)))
    return ks, [metrics[f"{name}@{k}"] for k in ks]


def plot_training(history: dict, path: str) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = range(1, len(history["loss"]) + 1)
    left.plot(epochs, history["loss"], marker="o")
    left.set(title="training loss", xlabel="epoch")
    for key, values in history.items():
        if key.startswith("val_"):
            right.plot(epochs, values, marker="o", label=key.removeprefix("val_").replace("_at_", "@"))
    right.set(title="validation (full ranking)", xlabel="epoch")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_metrics_at_k(table: dict, path: str, title: str) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, name in zip(axes, ("recall", "ndcg")):
        for model, metrics in table.items():
            ks, values = _metric_curve(metrics, name)
            ax.plot(ks, values, marker="o", label=model)
        ax.set(title=f"{title}: {name.upper() if name == 'ndcg' else 'Recall'}@K", xlabel="K", xscale="log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(latency: dict, path: str) -> str:
    """``latency``: ``{series: {"corpus_size": [...], "p50_ms": [...], "p99_ms": [...]}}``;
    entries without ``corpus_size`` (other figures of the same benchmark file) are skipped."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for series, values in latency.items():
        if not isinstance(values, dict) or "corpus_size" not in values:
            continue
        ax.plot(values["corpus_size"], values["p50_ms"], marker="o", label=f"{series} p50")
        if "p99_ms" in values:
            ax.plot(values["corpus_size"], values["p99_ms"], marker="x", linestyle="--", label=f"{series} p99")
    ax.set(title="retrieval latency vs corpus size", xlabel="items", ylabel="ms", xscale="log", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(run_dir, latency_json: str | None = None) -> str:
    """Writes the plots and ``report.md`` into the run's ``report/``; returns the Markdown path."""
    with RunFolder(run_dir).updating() as run:  # it writes into the run: one report at a time
        return _write(run, latency_json)


def _write(run: RunFolder, latency_json: str | None) -> str:
    summary = run.read_json(run.train_summary_file)
    evaluation = run.read_json(run.evaluation_file)
    latency = None
    if latency_json:
        try:
            with open(latency_json) as f:
                latency = json.load(f)
        except (OSError, ValueError) as e:
            raise UserError(f"--latency {latency_json}: cannot be read as JSON ({e})") from None
    folder = run.report_dir
    os.makedirs(folder, exist_ok=True)
    lines = [f"# Report: {os.path.basename(run.path)}", ""]
    if summary:
        plot_training(summary["history"], os.path.join(folder, "training_curves.png"))
        lines += ["## Training", "",
                  f"{summary['epochs_run']} epochs, best epoch {summary['best_epoch']}, "
                  f"{summary['train_seconds']} s, {summary['train_examples_per_second']:,} examples/s.", "",
                  "![training curves](training_curves.png)", ""]
    for section, title in (("warm", "Test, full ranking"), ("cold_start", "Cold start (held-out items)")):
        table = (evaluation or {}).get(section)
        if not table:
            continue
        image = f"{section}_at_k.png"
        plot_metrics_at_k(table, os.path.join(folder, image), title)
        lines += [f"## {title}", "", "```", format_table(table), "```", "", f"![{title}]({image})", ""]
    if latency:
        plot_latency(latency, os.path.join(folder, "latency.png"))
        lines += ["## Latency", "", "![latency vs corpus size](latency.png)", ""]
    path = os.path.join(folder, "report.md")
    with atomic_file(path) as f:
        f.write("\n".join(lines))
    return path
