"""Configs are frozen dataclasses; ``--set key=value`` overrides are parsed by field type."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from initscope.errors import InitscopeError, unknown

C = TypeVar("C")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"comma-separated list of {_describe(typing.get_args(tp)[0])}"
    return {int: "integer", float: "number", bool: "true/false", str: "string", type(None): "none"}.get(tp, str(tp))


def _is_nonfinite_number(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def parse_value(text: str, tp: Any, key: str) -> Any:
    """Parse ``text`` as type ``tp`` (int, float, bool, str, tuple[T, ...], T | None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and text.strip().lower() in {"none", "null", ""}:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(text, a, key)
            except InitscopeError:
                continue
        finite = " (finite)" if _is_nonfinite_number(text) else ""
        raise InitscopeError(f"--set {key}={text!r}: expected {_describe(tp)}{finite}")
    if origin is tuple:
        (inner, *_rest) = typing.get_args(tp)
        parts = [p for p in text.replace(" ", "").split(",") if p]
        return tuple(parse_value(p, inner, key) for p in parts)
    try:
        if tp is bool:
            low = text.strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            value = float(text)
            if math.isfinite(value):
                return value
        if tp is str:
            return text
    except ValueError:
        raise InitscopeError(f"--set {key}={text!r}: expected {_describe(tp)}") from None
    if tp is float:
        raise InitscopeError(f"--set {key}={text!r}: expected a finite number")
    raise InitscopeError(f"--set {key}: unsupported field type {tp}")


def split_assignments(assignments: Iterable[str]) -> dict[str, str]:
    """``key=value`` strings to a dict; a key given twice is refused (which one was meant?)."""
    out: dict[str, str] = {}
    for a in assignments:
        if "=" not in a:
            raise InitscopeError(f"--set expects key=value, got {a!r}")
        k, v = a.split("=", 1)
        key = k.strip().replace("-", "_")
        if key in out:
            raise InitscopeError(f"--set {key} given twice ({out[key]!r} and {v.strip()!r}); give it once")
        out[key] = v.strip()
    return out


def apply_overrides(cls: type[C], overrides: Mapping[str, Any] | Iterable[str] = ()) -> C:
    """Build ``cls`` from its defaults plus overrides (typed values, or ``key=value`` strings).

    Unknown keys and badly typed values raise :class:`InitscopeError` naming the valid keys.
    """
    if not isinstance(overrides, Mapping):
        overrides = split_assignments(overrides)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in names:
            raise unknown("config key", key, names, sort=False)
        kwargs[key] = parse_value(value, hints[key], key) if isinstance(value, str) and hints[key] is not str else value
        if isinstance(kwargs[key], float) and not math.isfinite(kwargs[key]):
            raise InitscopeError(f"{key} must be a finite number, got {kwargs[key]}")
    try:
        return cls(**kwargs)
    except TypeError as e:  # a wrongly typed value given from Python
        raise InitscopeError(str(e)) from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass config."""
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
