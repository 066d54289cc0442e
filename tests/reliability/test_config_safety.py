"""Configs cannot run code, and model paths cannot leave the configured model root.

YAML configs and ``--set`` values are read with safe loading, so a
``!!python/object`` tag is refused with an error naming the file instead of
building an object. A ``models.config`` whose ``base_path`` lies outside the
model root (an absolute path elsewhere, a ``..`` walk, a symbolic link out)
is refused: the server does not start on it, and a running server that
reads such a change keeps serving what it had.
"""

from __future__ import annotations

import logging
import os
import shutil

import pytest

from tests.reliability.tally import TALLY
from tfrec.cli import build_parser
from tfrec.config import ConfigError, load_config
from tfrec.serving.model_server import ModelServer
from tfrec.serving.servable_registry import ServableRegistry

REFUSED = {"yaml": 0, "paths": 0}

PAYLOADS = [
    "name: !!python/object/apply:os.system ['touch {marker}']\n",
    "name: !!python/object/new:os.system ['touch {marker}']\n",
    "train: !!python/object:argparse.Namespace {{epochs: 1}}\n",
    "name: !!python/name:os.system\n",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_yaml_configs_refuse_python_tags(tmp_path, payload):
    marker = tmp_path / "ran"
    config = tmp_path / "evil.yaml"
    config.write_text(payload.format(marker=marker))
    with pytest.raises(ConfigError, match=r"evil.yaml: not valid YAML.*python"):
        load_config(str(config))
    assert not marker.exists()
    REFUSED["yaml"] += 1


def test_set_overrides_refuse_python_tags(tmp_path, capsys):
    marker = tmp_path / "ran"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--config", "c.yaml", "--run", "r",
                                   "--set", f"name=!!python/object/apply:os.system ['touch {marker}']"])
    assert "not a plain YAML value" in capsys.readouterr().err
    assert not marker.exists()
    REFUSED["yaml"] += 1


def write_config(path, base_path):
    path.write_text(f'model_config_list {{ config {{ name: "retrieval" base_path: "{base_path}" '
                    f'model_platform: "tensorflow" }} }}')
    return str(path)


@pytest.fixture
def layout(served_base, tmp_path):
    """``root/`` (the model root, with models.config) and ``outside/`` holding a real model."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    shutil.copytree(os.path.join(served_base, "retrieval"), root / "retrieval")
    shutil.copytree(os.path.join(served_base, "retrieval"), outside / "retrieval")
    return root, outside


@pytest.mark.parametrize("trick", ["absolute", "dotdot", "dotdot-relative-looking"])
def test_models_config_outside_the_root_is_refused(layout, trick):
    root, outside = layout
    base_path = {"absolute": outside / "retrieval",
                 "dotdot": f"{root}/../outside/retrieval",
                 "dotdot-relative-looking": f"{root}/retrieval/../../outside/retrieval"}[trick]
    config = write_config(root / "models.config", base_path)
    with pytest.raises(ValueError, match="outside the model root"):
        ModelServer(model_config_file=config, port=0).start()
    with pytest.raises(ValueError, match="outside the model root"):
        ModelServer(base=str(root), model_config_file=config, port=0).start()
    REFUSED["paths"] += 2


def test_a_symlink_out_of_the_root_is_not_loaded(layout):
    root, outside = layout
    shutil.rmtree(root / "retrieval")
    os.symlink(outside / "retrieval", root / "retrieval")
    registry = ServableRegistry(base=str(root))
    registry.poll()
    assert registry.served() == {}
    [(version, status)] = registry.status("retrieval")
    assert version == 1 and "outside the model root" in status.error
    REFUSED["paths"] += 1


def test_a_running_server_keeps_serving_when_the_config_turns_bad(layout, caplog):
    root, outside = layout
    config = write_config(root / "models.config", root / "retrieval")
    registry = ServableRegistry(model_config_file=config)
    registry.poll()
    assert registry.served() == {"retrieval": [1]}
    write_config(root / "models.config", outside / "retrieval")
    with caplog.at_level(logging.ERROR, logger="tfrec.serving"):
        registry.poll()  # refused in one log line; what is served stays
    [refusal] = [r.getMessage() for r in caplog.records if "refusing the changed models.config" in r.getMessage()]
    assert "outside the model root" in refusal
    assert registry.served() == {"retrieval": [1]}
    REFUSED["paths"] += 1
    TALLY.add("security", "unsafe YAML tags / model paths outside the root", yaml_refused=REFUSED["yaml"],
              paths_refused=REFUSED["paths"], code_run=0)
