"""Typed configs: plain dataclasses loaded from YAML (or dicts) with unknown keys rejected.

Each part of the package declares its own dataclass (e.g. ``ModelConfig`` in ``models``); this module
only knows how to build any such dataclass from nested plain data, strictly:

* unknown keys are an error naming the key and the dataclass;
* a field renamed since files were written is read under its old name too (the dataclass's ``RENAMED``,
  old name → field; giving both is an error); :func:`to_dict` writes the new one;
* values are checked against the field's annotation (``int``, ``float``, ``bool``, ``str``,
  ``Literal[...]``, ``tuple[...]``, ``list[...]``, ``X | None`` and nested dataclasses);
* no live objects and no strings turned into classes.
"""

from __future__ import annotations

import dataclasses
import math
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from awhourglass.errors import AwhError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class ConfigError(AwhError, ValueError):
    """A config that does not match its dataclass, or a setting out of its range (a user error)."""


def check_number(where: str, value: float | None, *, positive: bool, optional: bool = False) -> None:
    """A config number must be finite and > 0 (``positive``) or >= 0; ``None`` only where ``optional``."""
    if value is None and optional:
        return
    ok = isinstance(value, int | float) and math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        raise ConfigError(f"{where} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")


def check_betas(where: str, betas: tuple[float, float]) -> None:
    """Adam's two averaging factors, each in [0, 1) (PyTorch refuses others only when the optimizer is made)."""
    if not all(isinstance(b, int | float) and 0.0 <= b < 1.0 for b in betas):
        raise ConfigError(f"{where} must be two numbers in [0, 1), got {list(betas)}")


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return from_dict(tp, value, _where=where)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            items = [_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, vt = get_args(tp) or (Any, Any)
        return {k: _convert(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {tp!r}")


def from_dict(cls: type[T], data: dict[str, Any] | None, *, _where: str = "") -> T:
    """Build dataclass ``cls`` from plain nested data; missing keys take their defaults.

    Raises:
        ConfigError: an unknown key, a missing required key, a value of the wrong type, or one that a nested
            dataclass's own check refuses (named by its full key, e.g. ``TrainConfig.data.source.max_samples``).
    """
    where = _where or cls.__name__
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    data = _renamed(cls, data, where)
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    kwargs = {name: _convert(data[name], hints[name], f"{where}.{name}") for name in fields if name in data}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where}: {exc}") from None
    except ConfigError as exc:  # a range check of a nested dataclass: name the key from the top
        if not _where:
            raise
        raise ConfigError(_located(str(exc), cls.__name__, where)) from None


def _renamed(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` with each old key of ``cls.RENAMED`` (old name → field, for files written before a rename) under
    the field's name."""
    renamed: dict[str, str] = getattr(cls, "RENAMED", {})
    if not renamed.keys() & data.keys():
        return data
    out = dict(data)
    for old, new in renamed.items():
        if old in out:
            if new in out:
                raise ConfigError(f"{where}: {old} is the old name of {new}; give {new} alone")
            out[new] = out.pop(old)
    return out


def _located(message: str, name: str, where: str) -> str:
    """``"DatasetConfig.max_samples must ..."`` raised at ``where`` → ``"TrainConfig.data.source.max_samples must
    ..."``; a message that does not start with the class name gets ``where`` in front."""
    if message.startswith((f"{name}.", f"{name}:")):
        return where + message[len(name):]
    return f"{where}: {message}"


def to_dict(obj: Any) -> Any:
    """Dataclass → plain nested data (tuples become lists), the inverse of :func:`from_dict`."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def read_config_text(path: str | Path) -> str:
    """The text of a config file; an unreadable or non-UTF-8 (binary) file is a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML text file (byte {exc.start} is not UTF-8)") from None


def load_yaml(cls: type[T], path: str | Path, defaults: dict[str, Any] | None = None) -> T:
    """Load dataclass ``cls`` from a YAML file, rejecting unknown keys; ``defaults`` fill keys the file omits
    (e.g. the fields a command's flags give)."""
    path = Path(path)
    text = read_config_text(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if defaults and (data is None or isinstance(data, dict)):
        data = {**defaults, **(data or {})}
    try:
        return from_dict(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def dump_yaml(obj: Any) -> str:
    """Dataclass → YAML text that :func:`load_yaml` reads back to an equal dataclass."""
    text: str = yaml.safe_dump(to_dict(obj), sort_keys=False)
    return text


__all__ = ["ConfigError", "dump_yaml", "from_dict", "load_yaml", "read_config_text", "to_dict"]
