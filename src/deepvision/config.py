"""Dicts at the edge, frozen dataclasses inside: ``from_dict`` turns a ``params:`` dict into a
dataclass and fails at once, naming the key, on anything unknown, missing or of the wrong kind."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
import warnings
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A parameter is unknown, missing or out of range; the message names the key and the fix."""


def from_dict(cls: type[T], data: dict[str, Any] | None, key: str) -> T:
    """Build dataclass ``cls`` from ``data``; ``key`` is the params prefix used in messages."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        hints = [_hint(u, fields) for u in unknown]
        raise ConfigError(f"unknown parameter(s) {', '.join(f'{key}.{u}' for u in unknown)}"
                          f"{''.join(hints)}. Allowed keys under {key}: "
                          f"{', '.join(sorted(fields))}")
    missing = [n for n, f in fields.items() if n not in data and _required(f)]
    if missing:
        raise ConfigError(f"missing parameter(s) {', '.join(f'{key}.{m}' for m in missing)}")
    hints_map = typing.get_type_hints(cls)
    values = {n: _coerce(v, hints_map[n], f"{key}.{n}") for n, v in data.items()}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key}: {e}") from e


def warn_deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Tell the user a parameter key or value was renamed; the old one still works, for now.
    A FutureWarning, not a DeprecationWarning: Python hides the latter outside ``__main__``."""
    warnings.warn(f"{old} is deprecated: use {new}", FutureWarning, stacklevel=stacklevel)


def check_choice(value: Any, allowed: typing.Iterable[Any], key: str) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of: "
                          f"{', '.join(map(str, allowed))}")


def check_range(value: float, key: str, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> None:
    bad = (low is not None and (value < low or (low_open and value == low))) or (
        high is not None and value > high)
    if bad:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"<= {high}"
        bounds = " and ".join(x for x in (lo, hi) if x)
        raise ConfigError(f"{key}={value!r} is out of range; it must be {bounds}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass back to plain (JSON-friendly) values, tuples as lists."""
    return _plain(dataclasses.asdict(obj))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys (``train.lr``): how kedro-mlflow logs params and
    ``kedro run --params`` takes them."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _hint(name: str, fields: dict[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Light type checking: numbers, bools, strings, tuples; nested dataclasses recurse."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key) if len(inner) == 1 else value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}={value!r} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}={value!r} must be a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}={value!r} must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}={value!r} must be a list")
        elem = args[0] if args else Any
        return tuple(_coerce(v, elem, f"{key}[{i}]") for i, v in enumerate(value))
    return value
