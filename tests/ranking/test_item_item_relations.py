"""A ranker's item-item relations: trained on what came before its targets, served with all training data."""

import numpy as np

from tfrec.models.item_item_features import ItemItemFeatures
from tfrec.training.ranking_experiment import RankingExperiment

from tests.ranking.conftest import QUIET


def relations(layer) -> list[np.ndarray]:
    return [v.numpy() for v in (layer.ease_columns, layer.ease_values, layer.next_columns, layer.next_values)]


def test_training_relations_never_hold_a_target_and_serving_relations_hold_all_training(tiny_listwise_run):
    exp = RankingExperiment.from_run(str(tiny_listwise_run), **QUIET)
    lists = exp.earlier_lists(**QUIET)
    earlier = exp.earlier_interactions()
    known = set(zip(earlier.user_id, earlier.item_id))
    once = exp.base.split.train.groupby(["user_id", "item_id"]).size() == 1
    targets = [(u, items[engaged == 1][0]) for u, items, engaged in zip(lists.user_ids, lists.item_ids, lists.engaged)]
    checked = [pair for pair in targets if once.get(pair, False)]
    assert len(checked) > 20 and not any(pair in known for pair in checked)

    training = exp.training_model(lists)
    served = exp.load_model(str(tiny_listwise_run))
    c = exp.config.model.item_item
    fresh = ItemItemFeatures(exp.item_ids, c.neighbours, c.ease_l2, c.window, c.recent)
    for got, want in zip(relations(training.item_item), relations(fresh.fit(earlier))):
        np.testing.assert_allclose(got, want)
    for got, want in zip(relations(served.item_item), relations(fresh.fit(exp.base.split.train))):
        np.testing.assert_allclose(got, want)
    assert not all(np.array_equal(a, b) for a, b in zip(relations(training.item_item), relations(served.item_item)))
    # The standardisation learnt in training is kept: it is part of the weights.
    np.testing.assert_allclose(served.item_item.std.numpy(), training.item_item.std.numpy(), rtol=1e-5)
