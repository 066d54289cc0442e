"""Which versions the registry serves: models.config, version policies, labels, vanished folders."""

import os
import shutil

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfrec.serving.errors import ServingError
from tfrec.serving.servable_registry import ServableRegistry, wanted_versions


def _config(text: str):
    return text_format.Parse(text, model_server_config_pb2.ModelConfig())


def test_version_policies_choose_like_tf_serving():
    on_disk = [1, 2, 5]
    assert wanted_versions(_config('name: "m"'), on_disk) == [5]
    assert wanted_versions(_config('model_version_policy { latest { num_versions: 2 } }'), on_disk) == [2, 5]
    assert wanted_versions(_config('model_version_policy { all {} }'), on_disk) == [1, 2, 5]
    assert wanted_versions(_config('model_version_policy { specific { versions: 1 versions: 7 } }'), on_disk) == [1]


@pytest.fixture
def two_versions(served_base, tmp_path):
    base = tmp_path / "base"
    for version in ("1", "2"):
        shutil.copytree(os.path.join(served_base, "retrieval", "1"), base / "retrieval" / version)
    return base


def test_models_config_policy_and_labels_pick_versions(two_versions, tmp_path):
    config = tmp_path / "models.config"
    config.write_text(f'''
        model_config_list {{ config {{
            name: "recs" base_path: "{two_versions / 'retrieval'}" model_platform: "tensorflow"
            model_version_policy {{ all {{}} }}
            version_labels {{ key: "stable" value: 1 }}
            version_labels {{ key: "canary" value: 2 }}
        }} }}''')
    registry = ServableRegistry(model_config_file=str(config))
    registry.poll()
    assert registry.served() == {"recs": [1, 2]}
    assert registry.resolve(model_pb2.ModelSpec(name="recs")).version == 2
    assert registry.resolve(model_pb2.ModelSpec(name="recs", version_label="stable")).version == 1
    with pytest.raises(ServingError) as e:
        registry.resolve(model_pb2.ModelSpec(name="recs", version_label="beta"))
    assert e.value.code == grpc.StatusCode.NOT_FOUND and "beta" in e.value.message


def test_a_vanished_version_is_unloaded_and_a_vanished_model_too(two_versions):
    registry = ServableRegistry(base=str(two_versions))
    registry.poll()
    assert registry.served() == {"retrieval": [2]}
    shutil.rmtree(two_versions / "retrieval" / "2")
    registry.poll()
    assert registry.served() == {"retrieval": [1]}
    assert [s.state for _, s in registry.status("retrieval")] == [30, 50]  # AVAILABLE, END
    shutil.rmtree(two_versions / "retrieval")
    registry.poll()
    assert registry.served() == {}
    with pytest.raises(ServingError) as e:
        registry.resolve(model_pb2.ModelSpec(name="retrieval"))
    assert e.value.code == grpc.StatusCode.NOT_FOUND


def test_other_platforms_are_refused_with_the_file_named(tmp_path):
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "m" base_path: "/x" model_platform: "onnx" } }')
    with pytest.raises(ValueError, match="models.config.*only 'tensorflow'"):
        ServableRegistry(model_config_file=str(config)).poll()


def test_a_version_folder_made_empty_and_filled_later_is_served_on_a_later_poll(served_base, tmp_path):
    """Failed loads stop after a few attempts, but start again when the folder's files change."""
    folder = tmp_path / "retrieval" / "1"
    folder.mkdir(parents=True)
    registry = ServableRegistry(base=str(tmp_path))
    for _ in range(5):
        registry.poll()
    assert registry.served() == {}
    assert [s.state for _, s in registry.status("retrieval")] == [50]  # END: failed
    shutil.copytree(os.path.join(served_base, "retrieval", "1"), folder, dirs_exist_ok=True)
    registry.poll()
    assert registry.served() == {"retrieval": [1]}
    assert [s.state for _, s in registry.status("retrieval")] == [30]  # AVAILABLE
