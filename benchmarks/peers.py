"""RecBole's SASRec and GRU4Rec next to tfrec's models, on tfrec's MovieLens 100K split and metrics.

A researcher comparing tfrec with published sequential recommenders needs
them trained and scored on the same data the same way; numbers copied from
papers or from RecBole's own evaluation are not comparable (other splits,
and RecBole's full-sort metrics do not exclude a sequential model's history
items). For each seed this script:

  1. takes the split ``benchmarks/quality.py`` uses (temporal
     leave-last-out of ``pipelines/configs/retrieval_movielens.yaml``, from
     ``Experiment.prepare``) and writes it for RecBole (``write_split``):
     the training sequences as a RecBole atomic file read through
     ``benchmark_filename``, the catalogue as its item file, and for
     validation and test each user's history (latest 20 items), seen items
     and validation targets as JSON; the test targets stay here;
  2. runs ``benchmarks/peers_worker.py`` in RecBole's own virtualenv
     (``<repo>/.venv-peers``, made on first use: torch and TensorFlow are
     kept apart) per model, one training at a time; the worker early-stops
     on tfrec's validation NDCG@10 with seen items excluded, computed from
     the model's full scores, and writes the best epoch's test scores;
  3. ranks those scores with ``tfrec.evaluation.full_ranking.evaluate`` on
     the test split (seen = train + validation, excluded), the same
     ``EvaluationSet`` quality.py builds;
  4. unless ``--peers-only``, trains and scores tfrec's models and baselines
     with quality.py's own ``run_seed``.

One table follows: NDCG@10, Recall@10, Recall@20, epochs trained and training
seconds (tuning + fitting for the baselines; training with its per-epoch
validation for the trained models), mean ± std over seeds. The models'
settings are in ``peers_worker.MODELS``.

    python benchmarks/peers.py [--seeds 3] [--models sasrec gru4rec] [--max-epochs 200] [--patience 5]
                               [--peers-only] [--work-dir DIR] [--out results.json] [--movielens PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import pandas as pd

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)
from tfrec.data.history import PAD, history_for, latest_items
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, save_json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers_worker  # noqa: E402  (the worker's file layout and model settings; it imports no torch at the top)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PEERS_VENV = REPO_ROOT / ".venv-peers"
WORKER = pathlib.Path(__file__).resolve().parent / "peers_worker.py"
# In this order: torch first, from the CPU wheel, so that RecBole's `torch>=1.10` is already met and pip
# does not pull a CUDA build; then RecBole with the numpy and pandas it works with.
PEERS_REQUIREMENTS = (("torch==2.13.0",), ("recbole==1.2.1", "numpy<2", "pandas==2.2.3"))
PEERS = {"sasrec": "RecBole SASRec", "gru4rec": "RecBole GRU4Rec"}
HISTORY_LENGTH = peers_worker.HISTORY_LENGTH
TABLE_KEYS = ("ndcg@10", "recall@10", "recall@20", "epochs", "train_seconds")
TABLE_DIGITS = {"epochs": 1, "train_seconds": 0}


# ------------------------------------------------------------------ RecBole's virtualenv


def ensure_peers_venv(venv: pathlib.Path = PEERS_VENV, log=print) -> pathlib.Path:
    """The Python of RecBole's virtualenv, made and installed the first time (a marker file lists what
    was installed; the same list later means the venv is reused as it is)."""
    python = venv / "bin" / "python"
    marker = venv / ".peers-installed"
    wanted = "\n".join(" ".join(step) for step in PEERS_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        base = shutil.which("python3.11")
        if base is None:
            raise SystemExit("python3.11 is needed to make RecBole's virtualenv (RecBole 1.2.1 and torch 2.13 wheels)")
        log(f"making RecBole's virtualenv at {venv}")
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
    for step in PEERS_REQUIREMENTS:
        log(f"  pip install {' '.join(step)}")
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *step], check=True)
    subprocess.run([str(python), "-c", "import torch, recbole.model.sequential_recommender, recbole.trainer"],
                   check=True)
    marker.write_text(wanted)
    return python


# ------------------------------------------------------------------ the split, written for the worker


def evaluation_sets(split, item_ids) -> tuple[EvaluationSet, EvaluationSet]:
    """tfrec's validation set (seen = train) and test set (seen = train + validation), built as
    ``fit_baseline`` and quality.py's ``run_seed`` build them."""
    train, val, test = split.train, split.val, split.test
    users = train.user_id.astype(str).unique()
    val_set = EvaluationSet.from_frames(seen=train, target=val, user_ids=users, item_ids=item_ids)
    test_set = EvaluationSet.from_frames(seen=pd.concat([train, val], ignore_index=True), target=test,
                                         user_ids=users, item_ids=item_ids)
    return val_set, test_set


def _rows(matrix, item_ids) -> list[list[str]]:
    return [[str(item_ids[j]) for j in matrix.indices[matrix.indptr[r]:matrix.indptr[r + 1]]]
            for r in range(matrix.shape[0])]


def _histories(frame: pd.DataFrame, users) -> list[list[str]]:
    latest = {str(u): h for u, h in latest_items(frame, HISTORY_LENGTH).items()}
    out = []
    for user in users:
        history = [str(i) for i in latest.get(str(user), []) if i != PAD]
        if not history:
            raise ValueError(f"user {user} has no interaction before the evaluation; a sequential model "
                             "cannot score them")
        out.append(history)
    return out


def write_split(split, item_ids, folder: str) -> tuple[EvaluationSet, EvaluationSet]:
    """Writes ``split`` (tfrec's ``Split``) over the catalogue ``item_ids`` into ``folder`` as the worker
    reads it (see ``peers_worker``'s docstring) and returns tfrec's validation and test sets.

    Training sequences are tfrec's own histories (``history_for``): every training interaction after a
    user's first, with the up to 20 training items before it, the data augmentation RecBole itself
    applies to a sequence. Validation and test histories are each user's latest 20 items before the
    target (``latest_items`` of train, and of train + validation), what tfrec's sequential model reads.
    """
    item_ids = np.asarray(item_ids).astype(str)
    for name, values in (("item", item_ids), ("user", split.train.user_id.astype(str).unique())):
        bad = [v for v in values if not v or any(c.isspace() for c in v)]
        if bad:
            raise ValueError(f"{len(bad)} {name} id(s) are empty or hold whitespace, e.g. {bad[:3]!r}; "
                             "RecBole's atomic files separate tokens by spaces and tabs")
    val_set, test_set = evaluation_sets(split, item_ids)
    data = peers_worker.dataset_folder(folder)
    os.makedirs(data, exist_ok=True)

    train = split.train
    histories = history_for(train, train.iloc[:0], HISTORY_LENGTH)
    with open(os.path.join(data, f"{peers_worker.DATASET}.train.inter"), "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
        for user, item, history in zip(train.user_id.astype(str), train.item_id.astype(str), histories):
            before = [str(i) for i in history if i != PAD]
            if before:
                f.write(f"{user}\t{' '.join(before)}\t{item}\n")
    with open(os.path.join(data, f"{peers_worker.DATASET}.item"), "w", encoding="utf-8") as f:
        f.write("item_id:token\n" + "".join(f"{i}\n" for i in item_ids))

    seen_before_test = pd.concat([split.train, split.val], ignore_index=True)
    payload = {
        "item_ids": list(item_ids),
        "history_length": HISTORY_LENGTH,
        "validation": {"user_ids": [str(u) for u in val_set.user_ids],
                       "histories": _histories(split.train, val_set.user_ids),
                       "seen": _rows(val_set.seen, item_ids), "targets": _rows(val_set.target, item_ids)},
        "test": {"user_ids": [str(u) for u in test_set.user_ids],
                 "histories": _histories(seen_before_test, test_set.user_ids)},
    }
    with open(os.path.join(folder, "eval.json"), "w", encoding="utf-8") as f:
        json.dump(payload, f)
    return val_set, test_set


# ------------------------------------------------------------------ the worker's output, scored by tfrec


class WorkerScores:
    """``score_fn`` over a worker's ``test_scores.npz``: its columns put in the evaluation set's item
    order (an item the worker did not score gets ``-inf``, ranked last), its rows looked up by user id."""

    def __init__(self, path: str, item_ids):
        with np.load(path) as f:
            users, items, scores = f["user_ids"].astype(str), f["item_ids"].astype(str), f["scores"]
        if scores.shape != (len(users), len(items)):
            raise ValueError(f"{path}: scores {scores.shape} for {len(users)} users x {len(items)} items")
        columns = pd.Index(items).get_indexer(np.asarray(item_ids).astype(str))
        self.missing_items = int((columns < 0).sum())
        padded = np.concatenate([scores.astype(np.float32), np.full((len(users), 1), -np.inf, np.float32)], 1)
        self.scores = padded[:, np.where(columns >= 0, columns, scores.shape[1])]
        self.row = {u: i for i, u in enumerate(users)}

    def __call__(self, user_ids) -> np.ndarray:
        missing = [u for u in user_ids if str(u) not in self.row]
        if missing:
            raise ValueError(f"the worker scored no row for {len(missing)} test user(s), e.g. {missing[:3]}")
        return self.scores[[self.row[str(u)] for u in user_ids]]


def score_worker_output(out: str, test_set: EvaluationSet, items=None) -> dict:
    """tfrec's test metrics of a worker's ``test_scores.npz`` in ``out``."""
    from quality import EVAL_BATCH, KS

    scorer = WorkerScores(os.path.join(out, "test_scores.npz"), test_set.item_ids)
    return evaluate(scorer, test_set, ks=KS, batch_size=EVAL_BATCH, items=items)


def run_worker(python: pathlib.Path, model: str, seed: int, data: str, out: str, args) -> dict:
    """Runs the worker for one model and seed (its epoch lines printed as they come); its ``run.json``."""
    os.makedirs(out, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    command = [str(python), str(WORKER), "--data", data, "--model", model, "--seed", str(seed), "--out", out,
               "--max-epochs", str(args.max_epochs), "--patience", str(args.patience)]
    with open(os.path.join(out, "stderr.log"), "w") as stderr:
        done = subprocess.run(command, env=env, stderr=stderr, cwd=out)
    if done.returncode:
        tail = pathlib.Path(out, "stderr.log").read_text().splitlines()[-25:]
        raise SystemExit(f"{PEERS[model]} seed {seed} failed (exit {done.returncode}):\n" + "\n".join(tail))
    with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------ the benchmark


def movielens_experiment(seed: int, args):
    """The experiment (data and split) quality.py's ``run_seed`` prepares for MovieLens and this seed."""
    from quality import dataset_config

    from tfrec.training.experiment import Experiment

    config = dataset_config("movielens", seed, args.movielens, args.work_dir)
    run_dir = os.path.join(args.work_dir, "movielens", f"seed{seed}", "peers_data")
    return Experiment.prepare(config, run_dir, log=lambda *a: None)


def run_seed(seed: int, python, args, log) -> tuple[dict, dict]:
    """``{model: test metrics + epochs + train_seconds}`` and run details for one seed."""
    results: dict = {}
    details: dict = {}
    if args.tfrec_models:
        import quality

        tfrec_args = types.SimpleNamespace(models=args.tfrec_models, movielens=args.movielens,
                                           work_dir=args.work_dir, seeds_list=args.seeds_list)
        metrics, info = quality.run_seed("movielens", seed, tfrec_args, log)
        for model, values in metrics.items():
            seconds = info[model].get("train_seconds", info[model]["seconds"])
            results[model] = {**values, "train_seconds": seconds}
            if "epochs_run" in info[model]:
                results[model]["epochs"] = info[model]["epochs_run"]
        details["tfrec"] = info

    from tfrec.evaluation.run_evaluation import item_properties

    exp = movielens_experiment(seed, args)
    folder = os.path.join(args.work_dir, "movielens", f"seed{seed}", "peers")
    data = os.path.join(folder, "data")
    _, test_set = write_split(exp.split, exp.item_ids, data)
    properties = item_properties(exp, test_set.item_ids, log=lambda *a: None)
    details["data"] = {"split": exp.split.method, **exp.split.sizes(), "items": test_set.num_items,
                       "eval": test_set.summary()}
    if seed == args.seeds_list[0]:
        log(f"  peers: split {exp.split.sizes()}; test: {test_set.summary()}")
    for model in args.models:
        out = os.path.join(folder, model)
        log(f"  seed {seed} {PEERS[model]}: training (data in {data})")
        run = run_worker(python, model, seed, data, out, args)
        values = score_worker_output(out, test_set, properties)
        results[PEERS[model]] = {**values, "epochs": run["epochs_trained"], "train_seconds": run["seconds"]}
        details[PEERS[model]] = run
        per_epoch = np.mean([e["train_seconds"] + e["val_seconds"] for e in run["epochs"]])
        log(f"  seed {seed} {PEERS[model]:<16} ndcg@10 {values['ndcg@10']:.4f} recall@10 {values['recall@10']:.4f}"
            f"  ({run['epochs_trained']} epochs, best {run['best_epoch']}, {run['seconds']:.0f}s, "
            f"{per_epoch:.1f}s per epoch)")
    return results, details


def main(argv=None) -> dict:
    import quality

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movielens", default=str(REPO_ROOT.parent / "shared" / "data" / "movielens-100k-mm"),
                        help="MovieLens 100K folder (default ../shared/data/movielens-100k-mm)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...)")
    parser.add_argument("--models", nargs="+", default=list(PEERS), choices=list(PEERS), help="RecBole models")
    parser.add_argument("--tfrec-models", nargs="+", default=list(quality.MODELS), choices=list(quality.MODELS),
                        help="tfrec's models and baselines (quality.py's rows) trained beside them")
    parser.add_argument("--peers-only", action="store_true", help="only the RecBole models")
    parser.add_argument("--max-epochs", type=int, default=200, help="RecBole models' epoch limit")
    parser.add_argument("--patience", type=int, default=5,
                        help="RecBole models stop after this many epochs without a better validation NDCG@10")
    parser.add_argument("--work-dir", default=None, help="data, runs and worker outputs (default: a new temporary folder)")
    parser.add_argument("--out", default=None, help="JSON results (default: <work-dir>/peers.json)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.max_epochs < 1 or args.patience < 1:
        parser.error("--seeds, --max-epochs and --patience must be >= 1")
    if not os.path.exists(os.path.join(args.movielens, "ml-100k", "u.data")) \
            and not os.path.exists(os.path.join(args.movielens, "u.data")):
        parser.error(f"MovieLens 100K not found at {args.movielens} (pass --movielens PATH)")
    args.seeds_list = list(range(args.seeds))
    args.tfrec_models = [] if args.peers_only else list(args.tfrec_models)
    args.work_dir = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="tfrec-peers-"))
    args.movielens = os.path.abspath(args.movielens)
    out_path = args.out or os.path.join(args.work_dir, "peers.json")

    log = lambda *a: print(*a, flush=True)  # noqa: E731
    python = ensure_peers_venv(log=log)
    report: dict = {"settings": {"seeds": args.seeds_list, "ks": list(quality.KS), "models": list(args.models),
                                 "tfrec_models": args.tfrec_models, "max_epochs": args.max_epochs,
                                 "patience": args.patience,
                                 "peer_settings": {PEERS[m]: peers_worker.MODELS[m][1] for m in args.models},
                                 "protocol": "quality.py's MovieLens 100K temporal leave-last-out split; "
                                             "RecBole models early-stopped on tfrec's validation NDCG@10 "
                                             "(seen = train excluded); test full ranking by tfrec's harness "
                                             "with train+validation excluded"}}
    log(f"== movielens ({args.seeds} seed(s)); runs in {args.work_dir}")
    start = time.time()
    per_seed, details = {}, {}
    for seed in args.seeds_list:
        per_seed[seed], details[seed] = run_seed(seed, python, args, log)
        report["per_seed"] = {str(s): r for s, r in per_seed.items()}
        report["details"] = {str(s): d for s, d in details.items()}
        save_json(report, out_path)  # after every seed, so a later failure keeps results
    summary = quality.summarise(per_seed)
    report["summary"] = summary
    report["seconds"] = round(time.time() - start, 1)
    save_json(report, out_path)
    first = details[args.seeds_list[0]]["data"]
    table = quality.format_summary(summary, keys=TABLE_KEYS, digits=TABLE_DIGITS)
    log(f"\nmovielens: test split, full ranking over {first['items']:,} items, "
        f"{summary[next(iter(summary))]['users']['mean']:.0f} users, mean ± std over {args.seeds} seed(s); "
        f"epochs = epochs trained, train_seconds = training with its validation (tuning + fitting for "
        f"the baselines)\n{table}")
    log(f"\nresults saved to {out_path}")
    return report


if __name__ == "__main__":
    main()
