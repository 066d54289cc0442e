"""Which versions the registry serves: models.config, version policies, labels, vanished folders."""

import os
import shutil

import grpc
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import model_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfrec.serving.errors import ServerSettingsError, ServingError
from tfrec.serving.servable_registry import ServableRegistry, State, wanted_versions


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


def _labelled_config(path, base_path, labels: str) -> str:
    path.write_text(f'''
        model_config_list {{ config {{
            name: "recs" base_path: "{base_path}" model_platform: "tensorflow"
            model_version_policy {{ all {{}} }}
            {labels}
        }} }}''')
    return str(path)


LABELS = 'version_labels { key: "stable" value: 1 } version_labels { key: "canary" value: 2 }'


def test_labels_at_start_up_need_the_flag_as_in_tf_serving(two_versions, tmp_path):
    """TF Serving checks labels before it loads anything, so start-up labels need the flag."""
    config = _labelled_config(tmp_path / "models.config", two_versions / "retrieval", LABELS)
    with pytest.raises(ServerSettingsError, match="Request to assign label to version [12] of model recs, which is "
                                                  "not currently available for inference.*--allow-version-labels"):
        ServableRegistry(model_config_file=config).poll()
    registry = ServableRegistry(model_config_file=config, allow_version_labels_for_unavailable_models=True)
    registry.poll()
    assert registry.served() == {"recs": [1, 2]}
    assert registry.resolve(model_pb2.ModelSpec(name="recs")).version == 2
    assert registry.resolve(model_pb2.ModelSpec(name="recs", version_label="stable")).version == 1
    assert registry.resolve(model_pb2.ModelSpec(name="recs", version_label="canary")).version == 2
    with pytest.raises(ServingError) as e:
        registry.resolve(model_pb2.ModelSpec(name="recs", version_label="beta"))
    assert (e.value.code, e.value.message) == (grpc.StatusCode.INVALID_ARGUMENT,
                                               "Unrecognized servable version label: beta")


def test_a_changed_models_config_labels_served_versions_and_a_bad_change_keeps_the_old(two_versions, tmp_path):
    path = tmp_path / "models.config"
    registry = ServableRegistry(model_config_file=_labelled_config(path, two_versions / "retrieval", ""))
    registry.poll()
    assert registry.served() == {"recs": [1, 2]}
    _labelled_config(path, two_versions / "retrieval", LABELS)  # both versions are served now: accepted
    registry.poll()
    assert registry.resolve(model_pb2.ModelSpec(name="recs", version_label="stable")).version == 1
    # A label on a version that is not served: refused, the config in force stays (policy and labels).
    _labelled_config(path, two_versions / "retrieval", 'version_labels { key: "stable" value: 7 }')
    registry.poll()
    assert registry.served() == {"recs": [1, 2]}
    assert registry.resolve(model_pb2.ModelSpec(name="recs", version_label="canary")).version == 2
    path.write_text("model_config_list { config { name: ")  # unparseable: logged once, the old config stays
    registry.poll()
    registry.poll()
    assert registry.served() == {"recs": [1, 2]}
    assert registry.resolve(model_pb2.ModelSpec(name="recs", version_label="canary")).version == 2
    # Moving an existing label to a version that is not loaded is refused even with the flag.
    registry.allow_unavailable_labels = True
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(name="recs", base_path=str(two_versions / "retrieval"),
                                                model_platform="tensorflow")
    entry.version_labels["stable"] = 7
    with pytest.raises(ServingError) as e:
        registry.reload_config(config)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "version 7 of model recs" in e.value.message
    del entry.version_labels["stable"]
    entry.version_labels["next"] = 7  # a new label may name a version not loaded yet, with the flag
    registry.reload_config(config)
    assert registry.served() == {"recs": [2]}  # the default policy now: newest only
    with pytest.raises(ServingError) as e:
        registry.resolve(model_pb2.ModelSpec(name="recs", version_label="next"))
    assert e.value.code == grpc.StatusCode.NOT_FOUND and "Specific(recs, 7)" in e.value.message


@pytest.mark.parametrize("change, message", [
    (lambda c: c.model_config_list.config.add().CopyFrom(c.model_config_list.config[0]),
     "Illegal to list model recs multiple times in config list"),
    (lambda c: setattr(c.model_config_list.config[0], "base_path", "relative/recs"),
     "Expected model recs to have an absolute path or URI; got base_path()=relative/recs"),
    (lambda c: setattr(c.model_config_list.config[0], "model_platform", ""),
     "Illegal setting neither ModelServerConfig::model_type (deprecated) nor ModelServerConfig::model_platform"),
    (lambda c: setattr(c.model_config_list.config[0], "base_path", "/etc"), "outside the model root"),
])
def test_a_reload_refused_as_tf_serving_refuses_it_changes_nothing(two_versions, change, message):
    registry = ServableRegistry(base=str(two_versions))
    registry.poll()
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name="recs", base_path=str(two_versions / "retrieval"),
                                        model_platform="tensorflow")
    change(config)
    with pytest.raises(ServingError) as e:
        registry.reload_config(config)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and message in e.value.message
    registry.poll()
    assert registry.served() == {"retrieval": [2]}


def test_a_reload_loads_new_models_and_unloads_dropped_ones(two_versions):
    registry = ServableRegistry(base=str(two_versions))
    registry.poll()
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name="recs", base_path=str(two_versions / "retrieval"),
                                        model_platform="tensorflow").model_version_policy.all.SetInParent()
    registry.reload_config(config)
    assert registry.served() == {"recs": [1, 2]}  # before the call returned
    registry.poll()  # later scans keep the reloaded config, not the base path's folders
    assert registry.served() == {"recs": [1, 2]}
    assert [s.state for _, s in registry.status("retrieval")] == [State.END]
    missing = config.model_config_list.config.add(name="gone", base_path=str(two_versions / "nothing"),
                                                  model_platform="tensorflow")
    with pytest.raises(ServingError) as e:
        registry.reload_config(config)
    assert e.value.code == grpc.StatusCode.UNKNOWN and "1 model(s) did not become available" in e.value.message
    assert missing.name in e.value.message and registry.served() == {"recs": [1, 2]}


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
