"""What a command after ``tfrec train`` pays to load a run: from its folder, against re-reading the raw data.

    python benchmarks/run_loading.py --movielens ../shared/data/movielens-100k-mm
    python benchmarks/run_loading.py --run runs/movielens --rounds 5

Every command after training (evaluate, export, ranking, index add, report)
starts by rebuilding the run's experiment. It loads the run folder
(``Experiment.from_run``: the stored split, vocabularies, catalogue and
content vectors); the baseline is what rebuilding it from the raw files costs
(``Experiment.prepare``: parse and validate the files, split, build the
vocabularies), measured in the same process, the two taking turns. Then
``tfrec evaluate`` as a whole command, whose difference to the load is the
model and the scoring, the same either way.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import tfrec  # noqa: E402,F401
from tfrec.config import load_config  # noqa: E402
from tfrec.run_folder import RunFolder  # noqa: E402
from tfrec.training.experiment import Experiment  # noqa: E402
from tfrec.training.retrieval_trainer import train_retrieval  # noqa: E402

CONFIG = os.path.join(os.path.dirname(__file__), "..", "pipelines", "configs", "retrieval_movielens.yaml")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movielens", default="../shared/data/movielens-100k-mm")
    parser.add_argument("--run", help="a trained MovieLens run (default: train one, 3 epochs, into a temp folder)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    run = args.run
    if not run:
        run = os.path.join(tempfile.mkdtemp(prefix="tfrec-loading-"), "run")
        config = load_config(CONFIG, overrides={"data.path": args.movielens, "train.epochs": 3})
        train_retrieval(config, run, log=lambda *_: None)
    config = RunFolder(run).load_config()
    scratch = tempfile.mkdtemp(prefix="tfrec-loading-scratch-")
    quiet = dict(log=lambda *_: None)
    Experiment.from_run(run, **quiet), Experiment.prepare(config, scratch, **quiet)  # warm both up
    from_folder, from_raw = [], []
    for _ in range(args.rounds):
        from_folder.append(timed(lambda: Experiment.from_run(run, **quiet)))
        from_raw.append(timed(lambda: Experiment.prepare(config, scratch, **quiet)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "tfrec.cli", "evaluate", "--run", run]
    evaluate = [timed(lambda: subprocess.run(command, env=env, check=True, capture_output=True))
                for _ in range(args.rounds)]

    def row(name, values):
        return f"{name:<44} {np.median(values):8.2f} {min(values):8.2f} {max(values):8.2f}"

    print(f"\nloading run {run} ({config.data.source}), {args.rounds} rounds, seconds")
    print(f"{'':<44} {'median':>8} {'min':>8} {'max':>8}")
    print(row("experiment from the run folder (from_run)", from_folder))
    print(row("experiment from the raw files (prepare)", from_raw))
    print(row("tfrec evaluate, whole command", evaluate))
    ratios = np.array(from_raw) / np.array(from_folder)
    print(f"\nraw files / run folder, round by round: median {np.median(ratios):.1f}x "
          f"(min {ratios.min():.1f}x, max {ratios.max():.1f}x); the load a command no longer does: "
          f"{np.median(from_raw) - np.median(from_folder):.2f} s")


if __name__ == "__main__":
    main()
