import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.feature_table import FeatureTable


def test_known_ids_get_their_row_and_unknown_ids_neutral_defaults():
    frame = pd.DataFrame({"id": ["a", "b"], "genre": ["x|y", "z"], "age": [10.0, 30.0]})
    table = FeatureTable(frame, "id", ["genre"], ["age"], {"vec": np.array([[1.0, 2.0], [3.0, 4.0]])},
                         prefix="p_")
    out = table(tf.constant(["b", "nobody", "a"]))
    assert sorted(out) == ["p_age", "p_genre", "p_vec"] == sorted(table.feature_names)
    assert out["p_genre"].numpy().tolist() == [b"z", b"", b"x|y"]
    np.testing.assert_allclose(out["p_age"].numpy(), [30.0, 20.0, 10.0])  # unknown: the mean
    np.testing.assert_allclose(out["p_vec"].numpy(), [[3, 4], [0, 0], [1, 2]])


def test_vector_columns_must_align_with_rows():
    frame = pd.DataFrame({"id": ["a", "b"]})
    try:
        FeatureTable(frame, "id", vector_columns={"vec": np.zeros((3, 2))})
    except ValueError as e:
        assert "[2, D]" in str(e)
    else:
        raise AssertionError("a misaligned vector column must be rejected")
