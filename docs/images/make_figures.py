"""Draws the README's two pictures: the data flow (architecture.png) and NDCG@10 against baselines
(ndcg_movielens.png, the figures of docs/results.md).

    .venv/bin/python docs/images/make_figures.py
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# MovieLens 100K, temporal leave-last-out, full ranking over 1,682 items (docs/results.md:
# "Retrieval quality" and "Ranking and two-stage recommendation"; mean ± std over three seeds).
NDCG_AT_10 = [
    ("popularity", 0.0432, 0.0),
    ("TFRS tutorial\n(ids only)", 0.0354, 0.0014),
    ("EASE", 0.0700, 0.0),
    ("iALS", 0.0698, 0.0024),
    ("tfrec two-tower", 0.0705, 0.0063),
    ("tfrec sequential", 0.1142, 0.0054),
    ("tfrec two-stage\n(+ ranker)", 0.1265, 0.0059),
]

BOXES = {  # name: (x, y, width, height, label, colour)
    "data": (0.2, 4.3, 2.3, 1.0, "interactions\nitems: text, image\nusers", "#e8eef7"),
    "bert": (3.2, 5.0, 2.3, 0.8, "MiniLM (BERT)\ntext → 384-d", "#fbe9d0"),
    "effnet": (3.2, 3.7, 2.3, 0.8, "EfficientNet-Lite0\nimage → 1280-d", "#fbe9d0"),
    "cache": (3.2, 2.4, 2.3, 0.8, "content cache: text and\nimage vectors, all runs", "#f4f4f4"),
    "retrieval": (6.2, 4.3, 2.6, 1.1, "two-tower retrieval\nquery: user + last 20 items\ncandidate: ids + content",
                  "#dff0dc"),
    "ranker": (6.2, 2.6, 2.6, 1.0, "DCN-v2 ranker\nover the top 100", "#dff0dc"),
    "export": (9.5, 3.5, 2.4, 1.2, "SavedModels\nretrieval, ranking,\ncandidate encoder", "#e8eef7"),
    "serve": (12.5, 3.5, 2.2, 1.2, "tfrec serve /\nTF Serving\n(gRPC, REST)", "#ead9f2"),
    "client": (12.5, 1.6, 2.2, 1.0, "recommend: top 10\nwith reasons", "#ead9f2"),
    "events": (9.5, 1.6, 2.4, 1.0, "event store\n(SQLite / Redis)", "#f4f4f4"),
    "new": (9.5, 5.4, 2.4, 0.8, "tfrec index add\n(cold items)", "#f4f4f4"),
}
ARROWS = [("data", "bert"), ("data", "effnet"), ("effnet", "cache"), ("cache", "retrieval"), ("bert", "retrieval"),
          ("data", "retrieval"), ("retrieval", "ranker"), ("retrieval", "export"), ("ranker", "export"),
          ("export", "serve"), ("serve", "client"), ("events", "serve"), ("new", "export")]


def _anchors(start, end):
    """Edge points joining two boxes: side to side when one is left of the other, else top to bottom."""
    x, y, w, h = BOXES[start][:4]
    ex, ey, ew, eh = BOXES[end][:4]
    if ex >= x + w:
        return (x + w, y + h / 2), (ex, ey + eh / 2)
    if ey + eh <= y:
        return (x + w / 2, y), (ex + ew / 2, ey + eh)
    return (x + w / 2, y + h), (ex + ew / 2, ey)


def architecture(path: str) -> None:
    fig, ax = plt.subplots(figsize=(12, 4.6))
    for x, y, w, h, label, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#555555"))
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=8.5)
    for start, end in ARROWS:
        ax.add_patch(FancyArrowPatch(*_anchors(start, end), arrowstyle="-|>", mutation_scale=12,
                                     color="#777777", shrinkA=2, shrinkB=2, lw=1))
    ax.text(0.2, 6.35, "train (tf.distribute, TensorBoard)", fontsize=9, color="#333333")
    ax.text(9.5, 6.35, "export · serve · recommend", fontsize=9, color="#333333")
    ax.set_xlim(0, 15)
    ax.set_ylim(1.3, 6.7)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ndcg(path: str) -> None:
    names, values, errors = zip(*NDCG_AT_10)
    colours = ["#bbbbbb"] * 4 + ["#8fbf88", "#4f9a47", "#2f6e2a"]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.bar(range(len(names)), values, yerr=errors, color=colours, capsize=3)
    for i, value in enumerate(values):
        ax.text(i, value + 0.004, f"{value:.3f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel("NDCG@10")
    ax.set_title("MovieLens 100K, temporal leave-last-out, full ranking (mean ± std, 3 seeds)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    architecture(os.path.join(HERE, "architecture.png"))
    ndcg(os.path.join(HERE, "ndcg_movielens.png"))
    print(f"wrote {HERE}/architecture.png and {HERE}/ndcg_movielens.png")
