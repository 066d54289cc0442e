"""Recommendation quality of tfrec's two-tower retrieval model against strong baselines, in one harness.

For MovieLens 100K and the built-in synthetic data set, with the temporal
leave-last-out split of the project's configs, every model is fitted on the
training split and ranked by the project's full-ranking harness on the test
split (seen = train + validation, excluded; target = each user's last
interaction; no negative sampling):

  * popularity: training counts (``tfrec.models.popularity``);
  * EASE (Steck, WWW 2019), ``l2`` chosen on the validation split;
  * iALS (Hu, Koren & Volinsky, ICDM 2008), parameters chosen on validation;
  * the TFRS basic-retrieval tutorial model (ids only, tutorial settings);
    these three fitted and tuned by ``tfrec.evaluation.baselines``, the
    code ``tfrec evaluate --baselines`` runs;
  * tfrec's two-tower retrieval model, trained by ``train_retrieval`` from
    ``pipelines/configs/retrieval_<data set>.yaml`` (best epoch by
    validation NDCG);
  * tfrec sequential: the same config with the query tower also reading the
    user's last 20 items (``model.history``, causal Transformer).

Each seed changes model initialisation and training order (and, for the
synthetic data, the generated data set); tables show mean +- sample standard
deviation over seeds. Results, per-seed metrics and the chosen
hyper-parameters are saved as JSON.

    python benchmarks/quality.py [--movielens PATH] [--seeds 3] [--datasets movielens synthetic]
                                 [--work-dir DIR] [--out results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import sys
import tempfile
import time

import tfrec  # noqa: F401  (Keras 2 for tf.keras before TensorFlow is imported)

import numpy as np

from tfrec.config import load_config
from tfrec.evaluation.baselines import BASELINES, fit_baseline
from tfrec.evaluation.embedding_scorer import EmbeddingScorer
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, save_json
from tfrec.evaluation.run_evaluation import item_properties
from tfrec.models.popularity import PopularityBaseline
from tfrec.training.experiment import Experiment
from tfrec.training.retrieval_trainer import train_retrieval

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = {
    "movielens": REPO_ROOT / "pipelines" / "configs" / "retrieval_movielens.yaml",
    "synthetic": REPO_ROOT / "pipelines" / "configs" / "retrieval_synthetic.yaml",
}
MODELS = ("popularity", *BASELINES.values(), "tfrec two-tower", "tfrec sequential")
HISTORY_LENGTH = 20
KEYS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20", "coverage@10", "novelty@10", "popularity_lift@10",
        "diversity@10")
KS = (10, 20)
EVAL_BATCH = 512


def dataset_config(name: str, seed: int, movielens: str, work_dir: str):
    """The project's config for ``name`` with this seed (and, for synthetic data, data seed)."""
    config = load_config(str(CONFIGS[name]))
    config.train.seed = seed
    config.train.verbose = 0
    if name == "movielens":
        config.data.path = os.path.abspath(movielens)
    else:
        config.data.synthetic = dataclasses.replace(config.data.synthetic, seed=seed)
        config.data.cache_dir = os.path.join(work_dir, "data_cache")
    return config


def run_seed(name: str, seed: int, args, log) -> tuple[dict, dict]:
    """Test metrics ``{model: metrics}`` and run details for one data set and seed."""
    config = dataset_config(name, seed, args.movielens, args.work_dir)
    run_dir = os.path.join(args.work_dir, name, f"seed{seed}", "two_tower")
    details: dict = {}
    results: dict = {}

    if "tfrec two-tower" in args.models:
        start = time.time()
        summary = train_retrieval(config, run_dir, log=lambda *a: None, overwrite=True)
        trained = {"train_seconds": round(time.time() - start, 1), "best_epoch": summary["best_epoch"],
                   "epochs_run": summary["epochs_run"]}
        exp = Experiment.from_run(run_dir, log=lambda *a: None)
    else:  # the same data and split, without training the two-tower model
        exp = Experiment.prepare(config, run_dir, log=lambda *a: None)
    train, val = exp.split.train, exp.split.val
    item_ids = exp.item_ids
    eval_set = EvaluationSet.from_frames(
        seen=exp.seen_before_test(), target=exp.split.test,
        user_ids=train.user_id.astype(str).unique(), item_ids=item_ids,
    )
    properties = item_properties(exp, item_ids, log=lambda *a: None)
    details["data"] = {"dataset": exp.dataset.name, "split": exp.split.method, **exp.split.sizes(),
                       "items": len(item_ids), "eval": eval_set.summary()}
    if seed == args.seeds_list[0]:
        log(f"  {exp.dataset.name}: split {exp.split.sizes()}; test: {eval_set.summary()}")

    def timed(model_name, fit):
        start = time.time()
        model, info = fit()
        fit_seconds = time.time() - start
        results[model_name] = evaluate(model, eval_set, ks=KS, batch_size=EVAL_BATCH, items=properties)
        details.setdefault(model_name, {}).update(info, seconds=round(fit_seconds, 1))
        log(f"  seed {seed} {model_name:<16} ndcg@10 {results[model_name]['ndcg@10']:.4f} "
            f"recall@10 {results[model_name]['recall@10']:.4f}  ({fit_seconds:.0f}s) {info.get('chosen') or ''}")

    if "popularity" in args.models:
        timed("popularity", lambda: (PopularityBaseline(item_ids).fit(train), {}))
    for key, model_name in BASELINES.items():  # EASE, iALS and the TFRS tutorial, tuned as `tfrec evaluate` does
        if model_name in args.models:
            def fit(key=key):
                fitted = fit_baseline(key, item_ids, train, val, seed=seed, log=log)
                return fitted.score, {"chosen": fitted.chosen, "validation": fitted.validation}
            timed(model_name, fit)
    if "tfrec two-tower" in args.models:
        def load_two_tower():
            model = exp.load_model(run_dir)
            return EmbeddingScorer(model, exp.join, item_ids), trained
        timed("tfrec two-tower", load_two_tower)
    if "tfrec sequential" in args.models:
        def train_sequential():
            sequential = dataset_config(name, seed, args.movielens, args.work_dir)
            sequential.model.history.length = HISTORY_LENGTH
            seq_dir = os.path.join(args.work_dir, name, f"seed{seed}", "sequential")
            start = time.time()
            summary = train_retrieval(sequential, seq_dir, log=lambda *a: None, overwrite=True)
            seq_exp = Experiment.from_run(seq_dir, log=lambda *a: None)
            scorer = EmbeddingScorer(seq_exp.load_model(seq_dir), seq_exp.join, item_ids,
                                     histories=seq_exp.query_histories(seq_exp.seen_before_test()))
            return scorer, {"train_seconds": round(time.time() - start, 1), "best_epoch": summary["best_epoch"],
                            "epochs_run": summary["epochs_run"]}
        timed("tfrec sequential", train_sequential)
    return results, details


def summarise(per_seed: dict[int, dict[str, dict]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {metric: {mean, std}}}`` over seeds (sample std; 0 for one seed)."""
    out: dict = {}
    models = list(dict.fromkeys(m for results in per_seed.values() for m in results))
    for model in models:
        runs = [results[model] for results in per_seed.values() if model in results]
        out[model] = {}
        for key in runs[0]:
            values = np.array([float(r[key]) for r in runs])
            out[model][key] = {"mean": float(values.mean()),
                               "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return out


def format_summary(summary: dict, keys=KEYS, digits: int | dict = 4) -> str:
    """Aligned table of ``mean ± std`` cells, one row per model; ``digits`` is one count of decimals
    or ``{key: decimals}`` (4 for keys it lacks), e.g. none for epochs next to 4 for NDCG."""
    places = digits if isinstance(digits, dict) else {}
    default = 4 if isinstance(digits, dict) else digits

    def cell(m, k):
        d = places.get(k, default)
        return f"{m[k]['mean']:.{d}f} ± {m[k]['std']:.{d}f}" if k in m else "-"

    header = ["model", *keys]
    body = [[model, *(cell(m, k) for k in keys)] for model, m in summary.items()]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movielens", default=str(REPO_ROOT.parent / "shared" / "data" / "movielens-100k-mm"),
                        help="MovieLens 100K folder (default ../shared/data/movielens-100k-mm)")
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...)")
    parser.add_argument("--datasets", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--work-dir", default=None, help="run folders (default: a new temporary folder)")
    parser.add_argument("--out", default=None, help="JSON results (default: <work-dir>/quality.json)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1; got {args.seeds}")
    args.seeds_list = list(range(args.seeds))
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="tfrec-quality-")
    out_path = args.out or os.path.join(args.work_dir, "quality.json")
    datasets = list(args.datasets)
    if "movielens" in datasets and not os.path.exists(os.path.join(args.movielens, "ml-100k", "u.data")) \
            and not os.path.exists(os.path.join(args.movielens, "u.data")):
        print(f"MovieLens 100K not found at {args.movielens}; skipping it (pass --movielens PATH)", file=sys.stderr)
        datasets.remove("movielens")
    if not datasets:
        parser.error("no data set to run")

    log = lambda *a: print(*a, flush=True)  # noqa: E731
    report: dict = {"settings": {"seeds": args.seeds_list, "ks": list(KS), "models": list(args.models),
                                 "protocol": "temporal leave-last-out; fit on train; hyper-parameters on "
                                             "validation; test full ranking with train+validation excluded"}}
    tables = []
    for name in datasets:
        log(f"== {name} ({args.seeds} seed(s)); runs in {args.work_dir}")
        per_seed, details = {}, {}
        for seed in args.seeds_list:
            per_seed[seed], details[seed] = run_seed(name, seed, args, log)
        summary = summarise(per_seed)
        report[name] = {"summary": summary, "per_seed": {str(s): r for s, r in per_seed.items()},
                        "details": {str(s): d for s, d in details.items()}}
        table = format_summary(summary)
        tables.append(f"{name}: test split, full ranking over {details[0]['data']['items']:,} items, "
                      f"{summary[next(iter(summary))]['users']['mean']:.0f} users, "
                      f"mean ± std over {args.seeds} seed(s)\n{table}")
        log("\n" + tables[-1] + "\n")
        save_json(report, out_path)  # after every data set, so a later failure keeps results
    log("\n\n".join(tables))
    log(f"\nresults saved to {out_path}")
    return report


if __name__ == "__main__":
    main()
