"""Shared fixtures: where the real data sets live, and a skip that says why."""

import os
import pathlib
import tempfile

import pytest

import tfrec  # noqa: F401  (selects Keras 2 before any test imports TensorFlow)

# The user's cache (encoded catalogues, converted weights) stays out of the tests, and theirs out of it;
# subprocesses the tests start inherit it.
os.environ["TFREC_CACHE_DIR"] = tempfile.mkdtemp(prefix="tfrec-test-cache-")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(
    os.environ.get("TFREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
)


@pytest.fixture(scope="session")
def movielens_folder() -> pathlib.Path:
    """The MovieLens 100K folder with overviews and posters, or a printed skip."""
    folder = SHARED_DATA / "movielens-100k-mm"
    if not (folder / "ml-100k" / "u.data").exists():
        pytest.skip(
            f"MovieLens 100K not found at {folder} "
            "(set TFREC_SHARED_DATA to the folder holding movielens-100k-mm)"
        )
    return folder


TINY_CONFIG = """
name: tiny
data:
  source: synthetic
  synthetic: {{num_users: 300, num_items: 120, mean_interactions_per_user: 15, seed: 3, image_size: 16}}
  cache_dir: {cache}
model: {{embedding_dim: 16, id_embedding_dim: 16, feature_embedding_dim: 4, hidden_dims: [32]}}
train: {{batch_size: 256, epochs: 3, early_stopping_patience: 2, learning_rate: 0.01}}
export: {{max_k: 20}}
"""


@pytest.fixture(scope="session")
def tiny_config_path(tmp_path_factory) -> pathlib.Path:
    """A YAML config for a small synthetic retrieval run (trains in seconds)."""
    folder = tmp_path_factory.mktemp("tiny_config")
    path = folder / "tiny.yaml"
    path.write_text(TINY_CONFIG.format(cache=folder / "data_cache"))
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_config_path, tmp_path_factory) -> pathlib.Path:
    """A trained run folder of the tiny config, shared by the tests that only read it."""
    from tfrec.config import load_config
    from tfrec.training.retrieval_trainer import train_retrieval

    run = tmp_path_factory.mktemp("runs") / "tiny"
    train_retrieval(load_config(str(tiny_config_path)), str(run), log=lambda *_: None)
    return run


TINY_MULTIMODAL = """
model:
  content: {mode: cached, text: {preset: tiny, sequence_length: 16}, image: {variant: tiny, image_size: 32},
            projection_dim: 8}
  id_dropout: 0.1
data:
  cold_item_fraction: 0.1
"""


@pytest.fixture(scope="session")
def tiny_multimodal_run(tiny_config_path, tmp_path_factory) -> pathlib.Path:
    """A trained tiny run whose candidate tower reads text and images (tiny random encoders)."""
    import yaml

    from tfrec.config import RetrievalConfig, from_dict
    from tfrec.training.retrieval_trainer import train_retrieval

    values = yaml.safe_load(tiny_config_path.read_text())
    extra = yaml.safe_load(TINY_MULTIMODAL)
    values["model"].update(extra["model"])
    values["data"].update(extra["data"])
    values["name"] = "tiny-mm"
    run = tmp_path_factory.mktemp("runs") / "tiny_mm"
    train_retrieval(from_dict(RetrievalConfig, values), str(run), log=lambda *_: None)
    return run


@pytest.fixture(scope="session")
def tiny_sequential_run(tiny_config_path, tmp_path_factory) -> pathlib.Path:
    """A trained tiny run whose query tower reads the user's last 8 items (causal Transformer)."""
    import yaml

    from tfrec.config import RetrievalConfig, from_dict
    from tfrec.training.retrieval_trainer import train_retrieval

    values = yaml.safe_load(tiny_config_path.read_text())
    values["model"]["history"] = {"length": 8, "dim": 16}
    values["train"].update({"epochs": 5, "early_stopping_patience": 5})
    values["export"]["max_k"] = 40
    values["name"] = "tiny-seq"
    run = tmp_path_factory.mktemp("runs") / "tiny_seq"
    train_retrieval(from_dict(RetrievalConfig, values), str(run), log=lambda *_: None)
    return run
