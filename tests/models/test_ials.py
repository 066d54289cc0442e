"""iALS: exact loss, monotone training, CG against exact solves, and recovery of planted structure."""

import numpy as np
import pandas as pd
import pytest

from tfrec.evaluation.full_ranking import EvaluationSet, evaluate
from tfrec.models.ials import IALS, tune_on_validation
from tfrec.models.popularity import PopularityBaseline


def frame(users, items):
    return pd.DataFrame({"user_id": np.asarray(users, dtype=object), "item_id": np.asarray(items, dtype=object)})


def planted(num_groups=5, items_per_group=20, users_per_group=40, per_user=8, seed=0):
    """Users of group g interact only with the items of block g; one unseen block item is held out.

    Popularity is made uninformative about the block: block sizes and user counts are equal.
    """
    rng = np.random.default_rng(seed)
    item_ids = [f"i{k}" for k in range(num_groups * items_per_group)]
    train_u, train_i, test_u, test_i = [], [], [], []
    for g in range(num_groups):
        block = np.arange(g * items_per_group, (g + 1) * items_per_group)
        for n in range(users_per_group):
            user = f"g{g}u{n}"
            chosen = rng.choice(block, per_user + 1, replace=False)
            train_u += [user] * per_user
            train_i += [item_ids[k] for k in chosen[:per_user]]
            test_u.append(user)
            test_i.append(item_ids[chosen[-1]])
    return item_ids, frame(train_u, train_i), frame(test_u, test_i)


ITEM_IDS, TRAIN, TEST = planted()


def brute_force_loss(model):
    users = list(model.user_ids)
    p = np.zeros((len(users), model.num_items))
    for u, i in zip(TRAIN.user_id, TRAIN.item_id):
        p[users.index(u), ITEM_IDS.index(i)] = 1.0
    c = 1.0 + model.alpha * p
    s = model.user_factors @ model.item_factors.T
    reg = model.regularization * (np.sum(model.user_factors**2) + np.sum(model.item_factors**2))
    return float(np.sum(c * (p - s) ** 2) + reg)


@pytest.mark.parametrize("solver", ["cg", "exact"])
def test_loss_is_exact_and_decreases_every_iteration(solver):
    model = IALS(ITEM_IDS, factors=8, regularization=0.5, alpha=4.0, iterations=8, solver=solver, seed=1).fit(TRAIN)
    assert model.loss() == pytest.approx(brute_force_loss(model), rel=1e-9)
    losses = np.array(model.losses)
    assert len(losses) == 8
    assert np.all(np.diff(losses) <= 1e-9 * losses[:-1]), losses
    assert losses[-1] < 0.5 * losses[0]


def test_conjugate_gradient_converges_to_the_exact_solves():
    kwargs = dict(factors=6, regularization=1.0, alpha=3.0, iterations=1, seed=2)
    exact = IALS(ITEM_IDS, solver="exact", **kwargs).fit(TRAIN)
    cg = IALS(ITEM_IDS, solver="cg", cg_steps=40, **kwargs).fit(TRAIN)
    np.testing.assert_allclose(cg.user_factors, exact.user_factors, atol=1e-8)
    np.testing.assert_allclose(cg.item_factors, exact.item_factors, atol=1e-8)


def test_recovers_planted_groups_far_better_than_popularity():
    eval_set = EvaluationSet.from_frames(TRAIN, TEST, TRAIN.user_id.unique(), ITEM_IDS)
    model = IALS(ITEM_IDS, factors=8, regularization=1.0, alpha=10.0, iterations=10, seed=0).fit(TRAIN)
    ials = evaluate(model, eval_set, ks=(10,))
    popularity = evaluate(PopularityBaseline(ITEM_IDS).fit(TRAIN), eval_set, ks=(10,))
    # 12 unseen block items per user, one of them held out: a perfect block ranking gives 10/12.
    assert ials["hit_rate@10"] > 0.7
    assert ials["hit_rate@10"] > 3 * popularity["hit_rate@10"]


def test_scores_shape_unknown_users_and_tuning():
    model = IALS(ITEM_IDS, factors=4, iterations=2).fit(TRAIN)
    scores = model.score(np.array(["g0u0", "stranger"], dtype=object))
    assert scores.shape == (2, len(ITEM_IDS)) and scores.dtype == np.float32
    np.testing.assert_allclose(scores[0], model.user_factors[0] @ model.item_factors.T, rtol=1e-5)
    np.testing.assert_array_equal(scores[1], 0.0)
    grid = [{"factors": 2, "alpha": 1.0}, {"factors": 8, "alpha": 10.0, "regularization": 1.0}]
    best, results = tune_on_validation(ITEM_IDS, TRAIN, TEST, grid=grid, iterations=5)
    assert [params for params, _ in results] == grid
    assert best.factors == 8 and best.iterations == 5  # the structured grid point wins


def test_validation():
    for kwargs, match in [({"factors": 0}, "factors"), ({"iterations": 1.5}, "iterations"),
                          ({"alpha": 0}, "alpha"), ({"regularization": -1}, "regularization"),
                          ({"regularization": float("nan")}, "regularization"),
                          ({"solver": "lu"}, "solver"), ({"seed": "x"}, "seed"), ({"cg_steps": 0}, "cg_steps")]:
        with pytest.raises(ValueError, match=match):
            IALS(ITEM_IDS, **kwargs)
    with pytest.raises(ValueError, match="unique"):
        IALS(["a", "a"])
    with pytest.raises(ValueError, match="before fit"):
        IALS(ITEM_IDS).score(["g0u0"])
    with pytest.raises(ValueError, match="user_id"):
        IALS(ITEM_IDS).fit(pd.DataFrame({"item_id": ["i1"]}))
    with pytest.raises(ValueError, match="empty"):
        tune_on_validation(ITEM_IDS, TRAIN, TEST, grid=[])
