"""Event stores to test against: a SQLite file, and a real redis-server started on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """``redis://127.0.0.1:PORT/0`` of a redis-server this session starts (skipped, saying why, without one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (make test installs Debian's redis-server where it can); "
                    "the Redis event store was not tested")
    folder = tmp_path_factory.mktemp("redis")
    port = _free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                                "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if process.poll() is not None:
                pytest.skip(f"redis-server exited at start with status {process.returncode}")
            time.sleep(0.05)
    else:
        process.kill()
        pytest.skip("redis-server did not start listening within 20 s")
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def store_spec(request, tmp_path):
    """A fresh, empty store of each kind (a new SQLite file; a flushed Redis database)."""
    if request.param == "sqlite":
        return str(tmp_path / "events.sqlite")
    url = request.getfixturevalue("redis_url")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


TOPIC_CONFIG = """
name: topics
data:
  source: synthetic
  synthetic: {{num_users: 3000, num_items: 120, mean_interactions_per_user: 20, seed: 3, image_size: 16}}
  cache_dir: {cache}
model:
  embedding_dim: 16
  id_embedding_dim: 16
  feature_embedding_dim: 4
  hidden_dims: [32]
  history: {{length: 8, dim: 16, encoder: mean}}
train: {{batch_size: 512, epochs: 15, early_stopping_patience: 15, learning_rate: 0.01}}
export: {{max_k: 40}}
"""


@pytest.fixture(scope="session")
def topic_run(tmp_path_factory):
    """A small sequential retrieval run on data rich enough (3,000 users, 60K interactions) for the
    history to carry the topic a user is on: it trains in about 20 s."""
    from tfrec.config import RetrievalConfig, from_dict
    from tfrec.training.retrieval_trainer import train_retrieval

    import yaml

    folder = tmp_path_factory.mktemp("topic_run")
    values = yaml.safe_load(TOPIC_CONFIG.format(cache=folder / "data_cache"))
    run = folder / "run"
    train_retrieval(from_dict(RetrievalConfig, values), str(run), log=lambda *_: None)
    return run
