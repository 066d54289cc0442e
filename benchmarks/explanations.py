"""Do the reasons hold? Explanation fidelity of two-stage recommendation on MovieLens 100K.

The sequential retrieval model of ``retrieval_movielens_sequential.yaml`` and
the two-stage ranker of ``ranking_movielens_two_stage.yaml`` are trained (or
reused from ``--work-dir``) and exported; each sampled user's top 10 is asked
of the exported models with the user's latest 20 items as the history, and
every recommendation names the history item it owes most to (``because``).
Then, for each recommendation, the pair is scored again by the exported ranker
with one history item removed:

* the named item;
* a random other item of the history (the baseline a reason must beat);
* the history item most similar to the recommended item by the retrieval
  model's candidate embeddings (cosine): the usual "similar to what you
  watched" reason, computed beside the model rather than from it.

Printed per kind: the deletion rate (share of recommendations whose score
drops when that item is removed) and the mean score drop, and a few examples
with titles.

    python benchmarks/explanations.py [--movielens PATH] [--work-dir DIR] [--users 300] [--seed 42]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

from tfrec.config import RankingConfig, load_config
from tfrec.data.history import latest_items
from tfrec.evaluation.embedding_scorer import candidate_embeddings
from tfrec.export.ranking_export import export_ranking
from tfrec.export.retrieval_export import export_retrieval
from tfrec.run_folder import RunFolder
from tfrec.serving.two_stage import TwoStageRecommender
from tfrec.training.experiment import Experiment
from tfrec.training.ranking_experiment import RankingExperiment
from tfrec.training.ranking_trainer import train_ranking
from tfrec.training.retrieval_trainer import train_retrieval

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "pipelines" / "configs"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "movielens-100k-mm"
HISTORY = 20


def quiet(*_):
    pass


def trained_runs(data: str, work_dir: str, seed: int) -> tuple[str, str]:
    retrieval_run = os.path.join(work_dir, f"retrieval-seed{seed}")
    if not RunFolder(retrieval_run).finished:
        train_retrieval(load_config(str(CONFIGS / "retrieval_movielens_sequential.yaml"),
                                    overrides={"data.path": data, "train.seed": seed}), retrieval_run, log=quiet)
    ranking_run = os.path.join(work_dir, f"two-stage-ranker-seed{seed}")
    if not RunFolder(ranking_run).finished:
        config = load_config(str(CONFIGS / "ranking_movielens_two_stage.yaml"), RankingConfig,
                             overrides={"data.path": data, "candidates.retrieval_run": retrieval_run,
                                        "train.seed": seed})
        train_ranking(config, ranking_run, log=quiet)
    return retrieval_run, ranking_run


def without(history: list[str], item: str) -> list[str]:
    """``history`` without the newest occurrence of ``item``."""
    out = list(history)
    del out[len(out) - 1 - out[::-1].index(item)]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", default=str(DEFAULT_DATA), help="the movielens-100k-mm folder")
    parser.add_argument("--work-dir", help="folder for the runs and exports (default: a temporary folder)")
    parser.add_argument("--users", type=int, default=300, help="users sampled (with at least 2 history items)")
    parser.add_argument("--seed", type=int, default=42, help="training seed and sample seed")
    parser.add_argument("--examples", type=int, default=4, help="examples printed")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.movielens, "ml-100k", "u.data")):
        print(f"MovieLens 100K not found at {args.movielens}", file=sys.stderr)
        return 2
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="tfrec-explanations-")
    started = time.time()
    retrieval_run, ranking_run = trained_runs(args.movielens, work_dir, args.seed)
    trained = time.time()
    base = os.path.join(work_dir, f"saved_models-seed{args.seed}")
    if not os.path.exists(os.path.join(base, "ranking")):
        exp = Experiment.from_run(retrieval_run, log=quiet)
        export_retrieval(exp, exp.load_model(retrieval_run), base, max_k=100, log=quiet)
        ranking = RankingExperiment.from_run(ranking_run, log=quiet)
        export_ranking(ranking, ranking.load_model(ranking_run), base, log=quiet)
    exp = Experiment.from_run(retrieval_run, log=quiet)
    embeddings = candidate_embeddings(exp.load_model(retrieval_run).candidate_tower, exp.join, exp.item_ids).numpy()
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
    row = {item: i for i, item in enumerate(exp.item_ids.astype(str))}
    recommender = TwoStageRecommender(base)
    titles = recommender.retrieval.titles
    stored = latest_items(exp.dataset.interactions, HISTORY)
    rng = np.random.default_rng(args.seed)
    users = [u for u in sorted(stored) if sum(1 for i in stored[u] if i) >= 2]
    users = list(rng.choice(users, size=min(args.users, len(users)), replace=False))
    histories = {u: [str(i) for i in stored[u] if i] for u in users}

    drops = {"named": [], "random other": [], "most similar (embeddings)": []}
    examples, unexplained, asked = [], 0, 0
    for start in range(0, len(users), 32):
        batch = users[start:start + 32]
        results = recommender.recommend(batch, 10, 100, histories=[histories[u] for u in batch])
        pairs = []  # (kind, user, item, score, shorter history)
        for user, recs in zip(batch, results):
            history = histories[user]
            for rec in recs:
                asked += 1
                if not rec.because:
                    unexplained += 1
                    continue
                others = [i for i in dict.fromkeys(history) if i != rec.because]
                similar = max(dict.fromkeys(history), key=lambda i: float(unit[row[i]] @ unit[row[rec.item_id]])
                              if i in row and rec.item_id in row else -np.inf)
                pairs.append(("named", user, rec.item_id, rec.score, without(history, rec.because)))
                if others:
                    pairs.append(("random other", user, rec.item_id, rec.score,
                                  without(history, others[rng.integers(len(others))])))
                pairs.append(("most similar (embeddings)", user, rec.item_id, rec.score, without(history, similar)))
                if len(examples) < args.examples and rec is recs[0]:
                    examples.append((user, rec, history[-5:]))
        if not pairs:
            continue
        # The ranker reads the retrieval score too: give each pair the score it had, so only the history moves.
        retrieved = {(u, r.item_id): r.retrieval_score for u, recs in zip(batch, results) for r in recs}
        scores = recommender.rank([p[1] for p in pairs], [p[2] for p in pairs],
                                  np.array([retrieved[(p[1], p[2])] for p in pairs], np.float32),
                                  histories=[p[4] for p in pairs])
        for (kind, _, _, score, _), again in zip(pairs, scores):
            drops[kind].append(score - float(again))

    print(f"explanation fidelity, two-stage (sequential retrieval top 100 + listwise ranker), MovieLens 100K, "
          f"{len(users)} users x top 10, history = latest {HISTORY} items; seed {args.seed}")
    print(f"{asked:,} recommendations, {asked - unexplained:,} with a reason ({unexplained:,} without: no history "
          "item raises their score)")
    print("\n| history item removed | recommendations | deletion rate (score drops) | mean score drop | "
          "median drop |")
    print("| --- | --- | --- | --- | --- |")
    for kind, values in drops.items():
        values = np.asarray(values)
        print(f"| {kind} | {len(values):,} | {np.mean(values > 0):.3f} | {values.mean():.4f} | "
              f"{np.median(values):.4f} |")
    named, other = np.asarray(drops["named"]), np.asarray(drops["random other"])
    if len(other):
        print(f"\nnamed / random: deletion rate {np.mean(named > 0) / max(np.mean(other > 0), 1e-9):.2f}x, "
              f"mean drop {named.mean() / other.mean() if other.mean() > 0 else float('inf'):.2f}x")
    print("\nexamples (the user's latest items, then the first recommendation and its reason):")
    for user, rec, recent in examples:
        print(f"- user {user}, recently: {'; '.join(titles.get(i, i) for i in recent)}")
        print(f"  -> {rec.title or rec.item_id} (score {rec.score:.3f}), because of {rec.because_title or rec.because} "
              f"(-{rec.because_score:.3f} without it)")
    print(f"\ntraining {trained - started:.0f} s, measuring {time.time() - trained:.0f} s; work dir {work_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
