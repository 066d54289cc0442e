"""``docs/configuration.md``: every config key, generated from the config dataclasses.

    python -m tfrec.config.reference > docs/configuration.md

Each key's type, default, allowed values and description come from its
:func:`~tfrec.config.typed.setting` (the same metadata that checks a config
when it is read), the "read by" column from which run's config has it
(``tfrec train``: retrieval, ``tfrec train-ranking``: ranking), and the "not
read with the defaults" notes from the sections' own ``unread`` rules (the ones
that refuse a key the configuration does not read). There is no second copy of
any of it to keep in step; ``tests/test_configuration_reference.py`` fails
when the committed file differs from what this prints.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing

import yaml

from tfrec.config.ranking import RankingConfig
from tfrec.config.retrieval import RetrievalConfig
from tfrec.config.typed import describe_range, describe_type, type_hints, unread_keys

COMMAND = "python -m tfrec.config.reference > docs/configuration.md"
MODELS = (("retrieval", RetrievalConfig, "tfrec train"), ("ranking", RankingConfig, "tfrec train-ranking"))


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key as the reference shows it (for one model, or several when alike)."""

    path: str
    type: str
    default: str
    allowed: str
    help: str
    unread: str  # why the default configuration does not read it ("" when it does)


@dataclasses.dataclass
class Section:
    path: str
    about: dict  # model -> first line of the section class's docstring
    nullable: bool = False
    unread: dict = dataclasses.field(default_factory=dict)  # model -> why the defaults do not read it
    keys: dict = dataclasses.field(default_factory=dict)  # key path -> {Key: [models]}


def reference() -> str:
    """The whole Markdown page."""
    sections: dict[str, Section] = {"": Section("", {})}
    for model, cls, _ in MODELS:
        _collect(cls, cls(), "", model, sections, _default_unread(cls()))
    lines = [
        "# Configuration reference",
        "",
        (f"Generated from the config dataclasses in `tfrec/config/` by `{COMMAND}`: to change a key's "
        "description, default or range, edit its `setting(...)` there, not this file (a test fails when the two "
        "differ)."),
        "",
        "A config is a YAML file of these sections (examples: `pipelines/configs/`); " + ", ".join(
            f"`{command} --config` reads a {model} config" for model, _, command in MODELS) + ". Every key is "
        "optional unless its description says otherwise. A key that is unknown, of the wrong type, out of range, "
        "or not read by the configuration as written (see *Not read with the defaults*) is refused with one line "
        "naming it. `--set key=value` on the command line sets a dotted key. A run folder keeps the keys its run "
        "read in `config.yaml`.",
        "",
        ("**Read by** names the runs whose config has the key; **Allowed** is empty when any value of the type is "
        "allowed. Where a key's default or meaning differs between the runs, it has a row for each."),
        "",
        "Sections: " + ", ".join(f"[`{s.path}`](#{_anchor(s.path)})" for s in sections.values() if s.path),
    ]
    for section in sections.values():
        lines += _section_lines(section)
    return "\n".join(lines) + "\n"


def _collect(cls, instance, prefix: str, model: str, sections: dict, unread: dict) -> None:
    hints = type_hints(cls)
    section = sections[prefix]
    section.about.setdefault(model, _summary(cls))
    for field in dataclasses.fields(cls):
        path = f"{prefix}.{field.name}" if prefix else field.name
        hint = hints[field.name]
        nested = _section_class(hint)
        if nested is not None:
            child = sections.setdefault(path, Section(path, {}))
            child.nullable = child.nullable or type(None) in typing.get_args(hint)
            value = getattr(instance, field.name)
            reason = unread.get(path) or section.unread.get(model)
            if reason:  # a section the defaults do not read: said once, above its keys (which keep their own)
                child.unread[model] = reason
            child_unread = {k: v for k, v in unread.items() if k.startswith(path + ".")}
            _collect(nested, value if value is not None else nested(), path, model, sections, child_unread)
            continue
        key = Key(path, describe_type(hint), _default(field), describe_range(field.metadata),
                  field.metadata.get("help", ""), unread.get(path, ""))
        section.keys.setdefault(path, {}).setdefault(key, []).append(model)


def _default_unread(config, prefix: str = "") -> dict[str, str]:
    """Dotted key -> why the default ``config`` does not read it, over every nested section."""
    unread = {f"{prefix}{key}": reason for key, reason in unread_keys(config).items()}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            unread.update(_default_unread(value, f"{prefix}{field.name}."))
    return unread


def _section_lines(section: Section) -> list[str]:
    if not section.keys:
        return []
    lines = ["", f"## `{section.path}`" if section.path else "## Top level", ""]
    abouts = {}
    for model, about in section.about.items():
        abouts.setdefault(about, []).append(model)
    for about, models in abouts.items():
        lines.append(about if len(abouts) == 1 else f"{' and '.join(models).capitalize()}: {about}")
    if section.nullable:
        lines.append(f"`{section.path}: null` leaves it out.")
    for reason in dict.fromkeys(section.unread.values()):
        lines.append(f"*Not read with the defaults: {reason}.*")
    lines += ["", "| Key | Type | Default | Allowed | Read by | Description |", "|---|---|---|---|---|---|"]
    for variants in section.keys.values():
        for key, models in variants.items():
            description = key.help + (f" *Not read with the defaults: {key.unread}.*" if key.unread else "")
            cells = [f"`{key.path}`", key.type, f"`{key.default}`" if key.default else "", key.allowed,
                     ", ".join(models), description]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _section_class(hint):
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), None)
    return None


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def _summary(cls) -> str:
    doc = (cls.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split()).replace("``", "`")


def _anchor(path: str) -> str:
    return path.replace(".", "").lower()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> None:
    sys.stdout.write(reference())


if __name__ == "__main__":
    main()
