"""Map YAML onto small typed dataclasses, with errors that name the bad key.

>>> from unisst_lib.models import GeneratorConfig
>>> from_dict(GeneratorConfig, {"arch": "fast", "channel_mults": [1, 2]}).channel_mults
(1, 2)
>>> from_dict(GeneratorConfig, {"arch": "fats"})
Traceback (most recent call last):
...
unisst_lib.core.config.ConfigError: arch: 'fats' is not one of ['paper', 'fast']
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from unisst_lib.core.errors import ManifestError

T = TypeVar("T")


class ConfigError(ManifestError):
    """A configuration file or dict has an unknown key or a bad value."""


def from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data`` recursively; unknown keys are errors."""
    data = dict(data or {})
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key {', '.join(where + k for k in unknown)} (a typo?); "
            f"known keys: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{where}{f.name}")
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{where or cls.__name__}: {err}") from err
    except ValueError as err:  # the dataclass's own checks
        raise ConfigError(f"{where or cls.__name__}: {err}") from err


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where=key + ".")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{key}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(
            _convert(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain YAML/JSON-able data (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(obj))


def read_yaml_mapping(
    path: str | Path,
    *,
    what: str = "config",
    error: type[Exception] = ConfigError,
    expected: str = "a YAML mapping",
    empty_ok: bool = False,
) -> dict[str, Any]:
    """The mapping at the top of a YAML file, or ``error`` naming the file and the problem.

    ``what`` names the file in the message ("cannot read config …"); ``expected`` says
    what it must hold; with ``empty_ok`` an empty file is an empty mapping.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise error(f"{path} is not valid YAML: {err}") from err
    if raw is None and empty_ok:
        return {}
    if not isinstance(raw, dict):
        raise error(f"{path} must hold {expected}")
    return raw


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Read a YAML file into dataclass ``cls`` (see :func:`from_dict`)."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    try:
        return from_dict(cls, raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
