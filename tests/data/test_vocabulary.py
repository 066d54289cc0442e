import pandas as pd

from tfrec.data.schema import RecDataset
from tfrec.data.vocabulary import build_vocabularies, title_words


def _dataset():
    interactions = pd.DataFrame({
        "user_id": ["a", "a", "b", "c", "c", "c"],
        "item_id": ["x", "y", "x", "x", "z", "new"],
        "timestamp": [1, 2, 3, 4, 5, 6],
        "rating": [1.0] * 6,
    })
    items = pd.DataFrame({"item_id": ["x", "y", "z", "new"], "title": ["Toy Story (1995)", "Heat", "Heat 2", "Cold"],
                          "text": "", "image_path": "", "genres": ["Comedy|Animation", "Crime", "Crime", "Horror"]})
    users = pd.DataFrame({"user_id": ["a", "b", "c"], "gender": ["F", "M", "F"], "age": [20.0, 30.0, 40.0]})
    return RecDataset("toy", interactions, items, users, item_categorical=("genres",),
                      user_categorical=("gender",), user_numeric=("age",))


def test_vocabularies_come_from_training_rows_only_ordered_by_frequency():
    dataset = _dataset()
    train = dataset.interactions.iloc[:5]  # "new" (and its genre "Horror") is only in the held-out row
    vocabs = build_vocabularies(train, dataset)
    assert vocabs["item_id"] == ["x", "y", "z"]
    assert vocabs["user_id"] == ["a", "c", "b"]  # a and c: 2 each, ties by value; b: 1
    assert vocabs["item_genres"] == ["Animation", "Comedy", "Crime"]
    assert "Horror" not in vocabs["item_genres"] and "new" not in vocabs["item_id"]
    # Title words are counted once per interaction: x (3 interactions), then heat (y + z), then 2.
    assert vocabs["item_title"] == ["1995", "story", "toy", "heat", "2"]
    assert vocabs["user_gender"] == ["F", "M"]


def test_title_words_match_in_graph_tokenisation():
    import tensorflow as tf

    from tfrec.models.feature_encoders import title_tokens

    titles = ["Toy Story (1995)", "Amélie: L'été", "  "]
    in_graph = [[w.decode() for w in row] for row in title_tokens(tf.constant(titles)).to_list()]
    assert in_graph == [title_words(t) for t in titles]
