"""Evaluates a trained run on its test split next to the baselines.

Same harness for every model: each test user is ranked against the whole
catalogue, the items they interacted with in train and validation are
excluded, and the metrics come from one code path. The popularity baseline
is always there; the strong ones asked for (``baselines``: EASE, iALS, the
TFRS tutorial model, see ``tfrec.evaluation.baselines``) are fitted on the
run's own training split, tuned on its validation users, and printed in the
same table. When the run held items
out of training (``data.cold_item_fraction``), the warm table ranks the other
items, and a second table ranks only the cold items for the users who
interacted with them, against random scores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.evaluation.baselines import fit_baseline
from tfrec.evaluation.beyond_accuracy import ItemProperties
from tfrec.evaluation.embedding_scorer import EmbeddingScorer
from tfrec.evaluation.full_ranking import EvaluationSet, evaluate, format_table, save_json
from tfrec.models.popularity import PopularityBaseline
from tfrec.models.random_baseline import RandomBaseline
from tfrec.run_folder import RETRIEVAL, RunFolder
from tfrec.training.experiment import Experiment

# What the printed tables show; evaluation.json and ``tfrec report`` have every K.
TABLE_KEYS = ("recall@10", "ndcg@10", "recall@20", "ndcg@20", "hit_rate@10", "mrr", "coverage@10", "novelty@10",
              "popularity_lift@10", "diversity@10", "users")


def _table(results: dict) -> str:
    present = next(iter(results.values()))
    return format_table(results, keys=[k for k in TABLE_KEYS if k in present])


def evaluate_run(run_dir, baselines=(), log=print) -> dict[str, dict[str, dict[str, float]]]:
    """``{"warm": {model: metrics}, "cold_start": {...}}`` for the run; also saved in its folder.

    ``baselines``: names of :data:`tfrec.evaluation.baselines.BASELINES` to
    fit on the run's training split and add to the warm table.
    """
    with RunFolder(run_dir).reading(RETRIEVAL) as run:
        return _evaluate(run, baselines, log)


def _evaluate(run: RunFolder, baselines, log) -> dict:
    exp = Experiment.from_run(run, log=log)
    model = exp.load_model(run)
    ks, batch_size = tuple(exp.config.eval.ks), exp.config.eval.batch_size
    test = exp.split.test
    test = test[test.user_id.isin(set(exp.evaluation_users("test")))]
    histories = exp.query_histories(exp.seen_before_test())
    items = warm_items(exp)
    eval_set = EvaluationSet.from_frames(
        seen=exp.seen_before_test(), target=test, user_ids=test.user_id.unique(), item_ids=items
    )
    properties = item_properties(exp, items, log)
    popularity = PopularityBaseline(items).fit_counts(exp.data.item_counts)
    results = {"warm": {"popularity": evaluate(popularity.score, eval_set, ks, batch_size, properties)}}
    if baselines:
        train, val = training_interactions(exp, log), exp.split.val
        val = val[val.user_id.isin(set(exp.evaluation_users("val")))]
        for name in baselines:
            fitted = fit_baseline(name, items, train, val, seed=exp.config.train.seed, log=log)
            log(fitted.describe())
            results["warm"][fitted.name] = evaluate(fitted.score, eval_set, ks, batch_size, properties)
    results["warm"][exp.config.name] = evaluate(EmbeddingScorer(model, exp.join, items, histories=histories),
                                                eval_set, ks, batch_size, properties)
    log(f"{exp.dataset.name}, {exp.split.method} split, test users {len(test.user_id.unique()):,}, "
        f"full ranking over {len(items):,} items, seen items excluded")
    log(_table(results["warm"]))
    if exp.cold_test is not None and len(exp.cold_test):
        results["cold_start"] = evaluate_cold_start(exp, model, ks, batch_size, histories)
        log(f"\ncold start: {len(exp.cold_items):,} items held out of training, ranked among themselves "
            f"for {results['cold_start'][exp.config.name]['users']:,} users")
        log(_table(results["cold_start"]))
    save_json(results, run.evaluation_file)
    return results


def item_properties(exp, items, log=print) -> ItemProperties:
    """Training counts and categories of ``items`` for novelty, popularity lift and diversity.

    Diversity reads the data's first item categorical column (e.g. MovieLens
    ``genres``); a data set without one has no diversity column, and says so.
    """
    categorical = tuple(exp.dataset.item_categorical)
    category = categorical[0] if categorical else None
    if category is None:
        log("diversity@k skipped: the data set has no item categorical column to compare items by")
    return ItemProperties.from_catalogue(items, exp.data.item_counts, exp.dataset.items, category)


def training_interactions(exp, log=print) -> pd.DataFrame:
    """The run's training interactions: its stored split, or, for a sharded data set (whose run folder keeps
    only the evaluated users' training rows), every training row read back from the shards it was trained on."""
    stream = exp.data.stream
    if stream is None:
        return exp.split.train
    from tfrec.data.sharded import ShardedDataset
    from tfrec.errors import RunError

    data = ShardedDataset.open(stream.folder)
    if data.fingerprint != stream.fingerprint:
        raise RunError(f"the sharded data set {stream.folder} changed since the run was trained on it; the "
                       "baselines are fitted on its training shards: train the run again")
    log(f"baselines: reading {stream.num_train:,} training interactions from {len(stream.shards)} shard(s)")
    return data.frame("train")


def warm_items(exp):
    """The catalogue the warm test ranks: every item but those held out as cold.

    Held-out items are evaluated on their own (``evaluate_cold_start``); left
    in the warm catalogue they would be distractors that only models reading
    content can place, which would mix the two questions.
    """
    if exp.cold_items is None:
        return exp.item_ids
    return exp.item_ids[~np.isin(exp.item_ids, exp.cold_items)]


def evaluate_cold_start(exp, model, ks, batch_size, histories=None) -> dict[str, dict[str, float]]:
    """Ranks the held-out items (never trained on) for each user who interacted with them.

    ``histories`` are the users' query histories (sequential models), the same
    the warm evaluation uses.
    """
    cold = exp.cold_test
    eval_set = EvaluationSet.from_frames(
        seen=pd.DataFrame({"user_id": [], "item_id": []}), target=cold,
        user_ids=cold.user_id.unique(), item_ids=exp.cold_items,
    )
    return {
        "random": evaluate(RandomBaseline(len(exp.cold_items), seed=exp.config.train.seed).score,
                           eval_set, ks, batch_size),
        exp.config.name: evaluate(EmbeddingScorer(model, exp.join, exp.cold_items, histories=histories),
                                  eval_set, ks, batch_size),
    }
