"""``docs/configuration.md`` is what ``python -m tfrec.config.reference`` prints from the config dataclasses."""

import dataclasses
import pathlib
import subprocess
import sys

from tfrec.config import RankingConfig, RetrievalConfig
from tfrec.config.reference import COMMAND, reference
from tfrec.config.typed import type_hints

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def _keys(cls, prefix=""):
    """Every leaf key of a config class, dotted, with its field."""
    for field in dataclasses.fields(cls):
        hint = type_hints(cls)[field.name]
        nested = hint if dataclasses.is_dataclass(hint) else next(
            (a for a in getattr(hint, "__args__", ()) if dataclasses.is_dataclass(a)), None)
        if nested is not None:
            yield from _keys(nested, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}", field


def test_the_committed_reference_is_the_generated_one():
    assert DOC.read_text() == reference(), f"docs/configuration.md is out of date with tfrec/config/: run {COMMAND}"


def test_the_module_prints_the_reference():
    done = subprocess.run([sys.executable, "-m", "tfrec.config.reference"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == reference()


def test_every_key_of_both_runs_has_a_described_row_naming_who_reads_it():
    text = reference()
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows.setdefault(cells[0].strip("`"), []).append(cells)
    for model, cls in (("retrieval", RetrievalConfig), ("ranking", RankingConfig)):
        for key, field in _keys(cls):
            assert field.metadata.get("help"), f"{cls.__name__} key {key} has no help= in its setting()"
            readers = [cells for cells in rows.get(key, []) if model in cells[4].split(", ")]
            assert len(readers) == 1, f"{key} ({model}): {rows.get(key)}"
            assert field.metadata["help"].split(";")[0].replace("|", "\\|") in readers[0][5]


def test_ranges_defaults_and_default_reasons_come_from_the_settings():
    text = reference()
    assert "| `train.epochs` | an integer | `30` | >= 1 | retrieval, ranking |" in text
    assert "| `data.split` | a string | `temporal` | one of 'temporal', 'temporal_leave_last_out', 'random' |" in text
    assert "| `model.hidden_dims` | a list of integers | `[128]` | >= 1 | retrieval |" in text
    # a key the default config does not read says why, in the words the config's refusal uses
    reason = RetrievalConfig().data.unread()["test_fraction"]
    row = next(line for line in text.splitlines() if line.startswith("| `data.test_fraction`"))
    assert f"*Not read with the defaults: {reason}.*" in row
    # a section the defaults do not read says so once, above its keys
    section = text.split("## `data.tabular.mapping`", 1)[1].split("| Key |", 1)[0]
    assert "*Not read with the defaults: data.source is 'synthetic', not 'tabular'.*" in section
