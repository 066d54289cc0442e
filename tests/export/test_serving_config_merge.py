"""Exports merge their model into models.config: the user's entries, labels and policies survive."""

import os
import threading

import pytest
from google.protobuf import text_format

from tfrec.errors import ConfigError
from tfrec.export.serving_config import (BATCHING_PARAMETERS, MODELS_CONFIG, read_batching_parameters,
                                         read_models_config, write_serving_files)


def _versions(base, *models):
    for model in models:
        os.makedirs(os.path.join(base, model, "1"), exist_ok=True)


def _entries(base) -> dict:
    return {e.name: e for e in read_models_config(os.path.join(base, MODELS_CONFIG)).model_config_list.config}


def test_two_exports_of_different_models_keep_both_and_the_hand_added_label_and_policy(tmp_path):
    base = str(tmp_path)
    _versions(base, "retrieval")
    write_serving_files(base, models=["retrieval"])
    config_path = os.path.join(base, MODELS_CONFIG)
    config = read_models_config(config_path)  # the user adds a label, a policy and a model of their own
    entry = config.model_config_list.config[0]
    entry.version_labels["stable"] = 1
    entry.model_version_policy.latest.num_versions = 2
    config.model_config_list.config.add(name="theirs", base_path="/srv/theirs", model_platform="tensorflow")
    with open(config_path, "w") as f:
        f.write(text_format.MessageToString(config))
    with open(os.path.join(base, BATCHING_PARAMETERS), "w") as f:
        f.write("max_batch_size { value: 7 }\n")

    _versions(base, "ranking")
    write_serving_files(base, models=["ranking"])
    _versions(base, "retrieval")
    write_serving_files(base, models=["retrieval"])

    entries = _entries(base)
    assert sorted(entries) == ["ranking", "retrieval", "theirs"]
    assert dict(entries["retrieval"].version_labels) == {"stable": 1}
    assert entries["retrieval"].model_version_policy.latest.num_versions == 2
    assert entries["theirs"].base_path == "/srv/theirs"
    assert entries["ranking"].base_path == os.path.join(os.path.abspath(base), "ranking")
    assert entries["ranking"].model_platform == "tensorflow"
    assert read_batching_parameters(os.path.join(base, BATCHING_PARAMETERS)).max_batch_size.value == 7


def test_the_serving_base_moves_only_the_exported_models_and_an_existing_path_stays_without_it(tmp_path):
    base = str(tmp_path)
    _versions(base, "retrieval", "ranking")
    write_serving_files(base)
    write_serving_files(base, serving_base="/models", models=["ranking"])
    entries = _entries(base)
    assert entries["ranking"].base_path == "/models/ranking"
    assert entries["retrieval"].base_path == os.path.join(os.path.abspath(base), "retrieval")
    write_serving_files(base, models=["ranking"])  # no --serving-base: the path in the file is kept
    assert _entries(base)["ranking"].base_path == "/models/ranking"
    with pytest.raises(ConfigError, match="must be an absolute path"):
        write_serving_files(base, serving_base="models")


def test_exports_at_once_lose_no_entry(tmp_path):
    base = str(tmp_path)
    models = [f"model_{i}" for i in range(12)]
    _versions(base, *models)
    errors = []

    def export(name):
        try:
            for _ in range(3):
                write_serving_files(base, models=[name])
        except Exception as e:  # noqa: BLE001 - every failure is reported by the assertion below
            errors.append(repr(e))

    threads = [threading.Thread(target=export, args=(name,)) for name in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(_entries(base)) == sorted(models)
    assert not [n for n in os.listdir(base) if n.startswith(f".{MODELS_CONFIG}.tmp")]  # no temporary left


def test_an_unparseable_models_config_is_one_line_naming_it_and_left_untouched(tmp_path):
    base = str(tmp_path)
    _versions(base, "retrieval")
    path = os.path.join(base, MODELS_CONFIG)
    broken = "model_config_list { config { name: 'retrieval' base_path: \n"
    with open(path, "w") as f:
        f.write(broken)
    with pytest.raises(ConfigError) as e:
        write_serving_files(base, models=["retrieval"])
    assert str(e.value).startswith(f"{path}: not a text-format ModelServerConfig") and "\n" not in str(e.value)
    with open(path) as f:
        assert f.read() == broken
    assert not os.path.exists(os.path.join(base, BATCHING_PARAMETERS))
