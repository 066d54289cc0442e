"""Typed configuration sections: every key's type, default, allowed values and meaning, checked on load.

A config section is a dataclass whose fields are declared with :func:`setting`.
:func:`from_dict` builds one from plain YAML values and refuses, naming the key,
the value and what is allowed:

* unknown keys (with the closest known key as a hint);
* values of the wrong type: ``epochs: 1.5`` or ``epochs: "three"`` for an
  integer, ``hidden_dims: 5`` for a list, ``true`` for a number;
* values out of range (``ge``/``gt``/``le``/``lt``, ``choices``), NaN and infinity;
* keys the configuration does not read: a section says which of its keys are
  unread in its current state (``unread``), e.g. ``data.test_fraction`` with a
  temporal split; giving one is an error, not a silent no-op.

Sections remember which keys the user gave (``given_keys``), and :func:`to_dict`
leaves unread keys out, so a saved config loads back cleanly and shows only what
the run reads. The metadata of each field (type, default, range, help) is also
what ``docs/configuration.md`` is generated from.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing

from tfrec.errors import ConfigError

MISSING = dataclasses.MISSING
_GIVEN = "_given_keys"


def setting(default=MISSING, *, factory=None, ge=None, gt=None, le=None, lt=None, choices=None,
            nonempty: bool = False, help: str = ""):  # noqa: A002  (the field's documentation)
    """A config field: its default (or ``factory``), allowed range or ``choices``, and help text.

    Ranges and choices apply to the value, or to every element of a list or
    every value of a mapping. ``nonempty`` refuses an empty list or mapping.
    """
    metadata = {"help": help, "nonempty": nonempty}
    metadata.update({k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt), ("choices", choices))
                     if v is not None})
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def given_keys(section) -> frozenset:
    """The keys of ``section`` that the user wrote (empty for a section built in code)."""
    return getattr(section, _GIVEN, frozenset())


def unread_keys(section) -> dict[str, str]:
    """Keys ``section`` does not read in its current state, with the reason (dotted for nested keys)."""
    unread = getattr(section, "unread", None)
    return dict(unread()) if unread else {}


@functools.lru_cache(maxsize=None)
def type_hints(cls) -> dict:
    return typing.get_type_hints(cls)


class Section:
    """Base of every config section: each field's type and range is checked whenever a section is
    made (from YAML, in code, or by ``dataclasses.replace``), then ``validate`` checks across fields."""

    def __post_init__(self):
        hints = type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not dataclasses.is_dataclass(value):
                object.__setattr__(self, field.name, check_value(value, hints[field.name], field, field.name))
        self.validate()

    def validate(self) -> None:
        """Checks that involve several fields; raises ``ConfigError``."""


def from_dict(cls, values, section: str = ""):
    """Builds the dataclass ``cls`` from YAML values, checked as the module docstring says."""
    where = section or "the top level"
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {_show(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), list(fields), n=1)
            raise ConfigError(f"unknown key {_dotted(section, key)!r}"
                              + (f" (did you mean {_dotted(section, hint[0])!r}?)" if hint else "")
                              + f"; {where} has: {', '.join(sorted(fields))}")
    hints = type_hints(cls)
    kwargs = {name: check_value(value, hints[name], fields[name], _dotted(section, name))
              for name, value in values.items()}
    try:
        result = cls(**kwargs)
    except ConfigError as e:  # a check across the section's keys (``validate``)
        raise ConfigError(_within(section, str(e), fields)) from None
    object.__setattr__(result, _GIVEN, frozenset(values))
    return result


def check_unread(section, name: str = "") -> None:
    """Raises ``ConfigError`` for the first key the user gave that ``section`` (or a nested section) does not read."""
    for key, reason in unread_keys(section).items():
        if _was_given(section, key):
            raise ConfigError(f"{_dotted(name, key)} is set but not read: {reason}")
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        if dataclasses.is_dataclass(value):
            check_unread(value, _dotted(name, field.name))


def to_dict(section, also_unread=()) -> dict:
    """Plain values of ``section`` for YAML, without the keys it does not read."""
    unread = {*unread_keys(section), *also_unread}
    out = {}
    for field in dataclasses.fields(section):
        if field.name in unread:
            continue
        value = getattr(section, field.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value, [k.split(".", 1)[1] for k in unread if k.startswith(field.name + ".")])
        elif isinstance(value, (tuple, list)):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        out[field.name] = value
    return out


def check_value(value, hint, field: dataclasses.Field | None, where: str):
    """``value`` converted to the type ``hint`` (ints to floats, lists to tuples), or a ``ConfigError``."""
    meta = dict(field.metadata) if field is not None else {}
    out = _convert(value, hint, where)
    _check_range(out, meta, where)
    return out


def describe_type(hint) -> str:
    """``hint`` in words, as messages and the configuration reference say it."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        words = [describe_type(a) for a in args if a is not type(None)]
        return " or ".join(words) + (" or null" if type(None) in args else "")
    if dataclasses.is_dataclass(hint):
        return "a section"
    if origin in (list, tuple):
        return f"a list of {_plural(describe_type(args[0]))}"
    if origin is dict:
        return f"a mapping of names to {_plural(describe_type(args[1]))}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def describe_range(meta) -> str:
    """The allowed values of a field in words (empty when any value of its type is allowed)."""
    parts = []
    if "choices" in meta:
        parts.append("one of " + ", ".join(repr(c) for c in meta["choices"]))
    for key, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if key in meta:
            parts.append(f"{symbol} {meta[key]}")
    if meta.get("nonempty"):
        parts.append("not empty")
    return ", ".join(parts)


def _convert(value, hint, where):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if value == {} and type(None) in args and any(dataclasses.is_dataclass(a) for a in args):
            raise ConfigError(f"{where}: {{}} is ambiguous: write null to leave it out, or give its keys "
                              "(the defaults are taken for the keys left out)")
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError:
                if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                    raise  # the section's own error says more than "must be a section"
        raise ConfigError(f"{where} must be {describe_type(hint)}, got {_show(value)}")
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is typing.Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{where} must be a finite number, got {value!r}")
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            items = [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
            return tuple(items) if origin is tuple else items
    elif origin is dict:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ConfigError(f"{where} keys must be strings, got {_show(key)}")
                out[key] = _convert(item, args[1], f"{where}.{key}")
            return out
    else:
        raise TypeError(f"config type {hint!r} of {where} is not supported")
    raise ConfigError(f"{where} must be {describe_type(hint)}, got {_show(value)}")


def _check_range(value, meta, where):
    if value is None:
        return
    if isinstance(value, (list, tuple, dict)):
        if meta.get("nonempty") and not value:
            raise ConfigError(f"{where} must not be empty")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            _check_scalar(item, meta, f"{where}[{key}]" if not isinstance(value, dict) else f"{where}.{key}")
        return
    _check_scalar(value, meta, where)


def _check_scalar(value, meta, where):
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{where} must be {describe_range({'choices': meta['choices']})}; got {_show(value)}")
    meta = {key: value for key, value in meta.items() if key != "nonempty"}  # of the list, not of its items
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    for key, ok, symbol in (("gt", lambda v, b: v > b, ">"), ("ge", lambda v, b: v >= b, ">="),
                            ("lt", lambda v, b: v < b, "<"), ("le", lambda v, b: v <= b, "<=")):
        if key in meta and not ok(value, meta[key]):
            raise ConfigError(f"{where} must be {describe_range(meta)}; got {value!r}")


def _was_given(section, dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if head not in given_keys(section):
        return False
    if not rest:
        return True
    child = getattr(section, head, None)
    return dataclasses.is_dataclass(child) and _was_given(child, rest)


def _within(section: str, message: str, fields) -> str:
    """``message`` of a section's own check, placed in ``section``: ``tasks has ...`` becomes
    ``model.tasks has ...``; a message that does not start with one of its keys gets ``model: ``."""
    if not section:
        return message
    first = message.split(" ", 1)[0]
    if first.split(".")[0].split("[")[0] in fields:
        return f"{section}.{message}"
    return f"{section}: {message}"


def _dotted(section: str, key) -> str:
    return f"{section}.{key}" if section else str(key)


def _show(value) -> str:
    kind = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "null"}.get(type(value), type(value).__name__)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def _plural(words: str) -> str:
    for article in ("an ", "a "):
        if words.startswith(article):
            return words[len(article):] + "s"
    return words
