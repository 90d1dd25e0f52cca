"""Build typed dataclasses from parsed JSON/YAML, checking every value against the field's type.

One checker serves the config (strict: an unknown key is an error) and the records read back from
stage files (lenient: extra keys written by other tools are ignored). Every error names the place
(`where`: a file, a file and line) and the key path, so a user can find and fix it.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from typing import Any, Literal, Union

from arena.errors import ArenaError, ConfigError

_NONE = type(None)


def describe(tp: Any) -> str:
    """A short English description of a type annotation, for error messages."""
    origin = typing.get_origin(tp)
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is Any:
        return "any value"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        return f"a list of {_plural(describe(inner))}"
    if origin is dict:
        args = typing.get_args(tp)
        inner = args[1] if len(args) == 2 else Any
        return f"a mapping of names to {_plural(describe(inner))}"
    if origin in (Union, types.UnionType):
        parts = [describe(a) for a in typing.get_args(tp) if a is not _NONE]
        text = " or ".join(parts)
        return text + (" (or null)" if _NONE in typing.get_args(tp) else "")
    return getattr(tp, "__name__", str(tp))


def _plural(desc: str) -> str:
    for article in ("a ", "an "):
        if desc.startswith(article):
            noun = desc[len(article) :]
            if noun == "mapping":
                return "mappings"
            if noun.startswith("list of"):
                return "lists of" + noun[len("list of") :]
            if noun.startswith("mapping of"):
                return "mappings of" + noun[len("mapping of") :]
            return noun + "s"
    return desc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


class SchemaError(ArenaError):
    """A value does not match its declared type; subclasses decide which ArenaError it is."""


def _fail(error: type[ArenaError], where: str, path: str, message: str) -> typing.NoReturn:
    raise error(f"{where}: {path or '(top level)'}: {message}")


def convert(
    tp: Any,
    value: Any,
    *,
    where: str,
    path: str = "",
    strict: bool = True,
    error: type[ArenaError] = ConfigError,
) -> Any:
    """Return `value` as type `tp`, or raise `error` naming `where` and `path`.

    Accepts an int where a float is expected, never a bool where a number is expected, and a
    mapping for a dataclass (recursively). With strict=False, unknown dataclass keys are ignored.
    """
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if _NONE in args:
                return None
            _fail(error, where, path, f"expected {describe(tp)}, got null")
        candidates = [a for a in args if a is not _NONE]
        # A mapping can only be meant for the one dataclass among the choices: report that
        # dataclass's own error (an unknown key, say) rather than "expected X or Y".
        mapped = [a for a in candidates if dataclasses.is_dataclass(a)]
        if isinstance(value, dict) and len(mapped) == 1:
            return build(mapped[0], value, where=where, path=path, strict=strict, error=error)
        # Try exact scalar matches first so `int | str` keeps 3 an int and "3" a string.
        for arg in candidates:
            if _matches_scalar(arg, value):
                return convert(arg, value, where=where, path=path, strict=strict, error=error)
        last_error: ArenaError | None = None
        for arg in candidates:
            try:
                return convert(arg, value, where=where, path=path, strict=strict, error=error)
            except ArenaError as exc:
                last_error = exc
        if len(candidates) == 1 and last_error is not None:
            raise last_error
        _fail(error, where, path, f"expected {describe(tp)}, got {_short(value)}")
    if value is None:
        _fail(error, where, path, f"expected {describe(tp)}, got null")
    if tp is bool:
        if isinstance(value, bool):
            return value
        _fail(error, where, path, f"expected true or false, got {_short(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        _fail(error, where, path, f"expected an integer, got {_short(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                _fail(error, where, path, f"expected a finite number, got {_short(value)}")
            return float(value)
        _fail(error, where, path, f"expected a number, got {_short(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        _fail(error, where, path, f"expected a string, got {_short(value)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value in allowed and not isinstance(value, bool):
            return value
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, [str(a) for a in allowed], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        _fail(error, where, path, f"expected {describe(tp)}, got {_short(value)}{hint}")
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            _fail(error, where, path, f"expected {describe(tp)}, got {_short(value)}")
        return [
            convert(inner, item, where=where, path=_join(path, i), strict=strict, error=error)
            for i, item in enumerate(value)
        ]
    if origin is dict:
        args = typing.get_args(tp)
        inner = args[1] if len(args) == 2 else Any
        if not isinstance(value, dict):
            _fail(error, where, path, f"expected {describe(tp)}, got {_short(value)}")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                _fail(error, where, _join(path, str(key)), "keys must be strings")
            out[key] = convert(inner, item, where=where, path=_join(path, key), strict=strict, error=error)
        return out
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where=where, path=path, strict=strict, error=error)
    raise TypeError(f"schema.convert does not handle {tp!r}")  # our bug, not the user's


def _matches_scalar(tp: Any, value: Any) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, float)
    if tp is str:
        return isinstance(value, str)
    return False


@functools.cache
def _layout(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """Type hints and init fields of a dataclass, computed once per class (reading a large
    stage file builds many records of the same few classes)."""
    hints = typing.get_type_hints(cls)
    return hints, {f.name: f for f in dataclasses.fields(cls) if f.init}


def build(
    cls: type,
    data: Any,
    *,
    where: str,
    path: str = "",
    strict: bool = True,
    error: type[ArenaError] = ConfigError,
) -> Any:
    """Build dataclass `cls` from a mapping, checking keys and types (see `convert`)."""
    if not isinstance(data, dict):
        _fail(error, where, path, f"expected a mapping, got {_short(data)}")
    hints, fields = _layout(cls)
    if strict:
        for key in data:
            if key not in fields:
                close = difflib.get_close_matches(str(key), list(fields), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                allowed = ", ".join(sorted(fields))
                _fail(error, where, _join(path, str(key)), f"unknown key; {hint}allowed keys: {allowed}")
    kwargs = {}
    for name, f in fields.items():
        key_path = _join(path, name)
        if name in data:
            kwargs[name] = convert(hints[name], data[name], where=where, path=key_path, strict=strict, error=error)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            help_text = f.metadata.get("help")
            expected = help_text or describe(hints[name])
            _fail(error, where, key_path, f"required key is missing (expected {expected})")
    return cls(**kwargs)


def to_plain(record: Any) -> Any:
    """A dataclass (or nest of them) as plain dicts and lists, ready for json.dumps."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: to_plain(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, (list, tuple)):
        return [to_plain(item) for item in record]
    if isinstance(record, dict):
        return {key: to_plain(item) for key, item in record.items()}
    return record
