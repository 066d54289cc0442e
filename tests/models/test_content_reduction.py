"""The fixed principal-component reduction of cached content vectors."""

import numpy as np
import tensorflow as tf

from tfrec.models.content import Reduction


def test_reduction_keeps_the_main_directions_and_missing_vectors():
    rng = np.random.default_rng(0)
    # Rank-2 vectors in 10 dimensions, plus two all-zero rows (items without that content).
    vectors = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 10)) + 3.0
    vectors[[5, 17]] = 0.0
    reduction = Reduction.principal_components(vectors, 2)
    reduced = reduction(vectors)
    assert reduced.shape == (40, 2)
    assert not reduced[[5, 17]].any()
    present = np.delete(np.arange(40), [5, 17])
    # Two components hold everything: the vectors come back exactly from them.
    rebuilt = reduced[present] @ reduction.basis.T + reduction.mean
    np.testing.assert_allclose(rebuilt, vectors[present], rtol=1e-4, atol=1e-4)
    # The graph version (used by the live featurizer of the export) gives the same numbers.
    np.testing.assert_allclose(reduction(tf.constant(vectors, tf.float32)).numpy(), reduced, rtol=1e-5, atol=1e-5)


def test_no_reduction_when_the_size_would_not_shrink():
    vectors = np.random.default_rng(1).normal(size=(20, 4))
    assert Reduction.principal_components(vectors, 4) is None
    assert Reduction.principal_components(vectors, 0) is None
    assert Reduction.principal_components(vectors, 3).basis.shape == (4, 3)
