"""Typed configs: dataclasses that check every key and value on load, nested ones included.

A config section is a dataclass whose fields are its keys, with their defaults in one place.
`from_dict` rejects an unknown key, a missing required key or a value of the wrong type with one
line naming where it is (`stages[0].patiance`). Sections also read like mappings
(`config["model"]["type"]`, `dict(config.loss)`) so that code written against plain YAML dicts
keeps working.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any, Literal, Union


class ConfigError(ValueError):
    """A config key or value that is not allowed; the message names where it is."""


class TypedConfig:
    """Base of every config section (subclasses are dataclasses)."""

    @classmethod
    def from_dict(cls, values: Mapping | None, where: str = "") -> TypedConfig:
        """The section built from `values` over its defaults; unknown keys are errors."""
        values = {} if values is None else values
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where or 'config'}: expected a mapping, got {values!r}")
        hints = typing.get_type_hints(cls)
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(
                f"{_join(where, str(unknown[0]))}: unknown config key; known: {sorted(fields)}"
            )
        arguments = {}
        for name, field in fields.items():
            if name in values:
                value = values[name]
                default = _default(field)
                # A section given in part keeps its own default for the rest (a spans run's
                # loss defaults to focal, the generic loss section's to BCE).
                if isinstance(default, TypedConfig) and isinstance(value, Mapping):
                    value = {**default.to_dict(), **value}
                arguments[name] = convert(value, hints[name], _join(where, name))
            elif _required(field):
                raise ConfigError(f"{_join(where, name)}: required config key is missing")
        section = cls(**arguments)
        section.check(where)
        return section

    def check(self, where: str) -> None:
        """Checks across keys, after each one's type (subclasses add theirs)."""

    def to_dict(self) -> dict:
        """Plain nested dicts and lists, as YAML and JSON write them."""
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}

    def replace(self, **changes) -> TypedConfig:
        """A copy with `changes` (checked like loaded values)."""
        return type(self).from_dict({**self.to_dict(), **changes})

    # --- Read like a mapping ---------------------------------------------------------------
    def __getitem__(self, key: str):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value) -> None:
        if key not in self._names():
            raise ConfigError(f"{key}: unknown config key; known: {sorted(self._names())}")
        setattr(self, key, convert(value, typing.get_type_hints(type(self))[key], key))

    def get(self, key: str, default=None):
        return getattr(self, key) if key in self._names() else default

    def keys(self) -> list[str]:
        return list(self._names())

    def items(self):
        return [(key, getattr(self, key)) for key in self._names()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, key: object) -> bool:
        return key in self._names()

    def __len__(self) -> int:
        return len(self._names())

    def _names(self) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(self))


def convert(value: Any, annotation: Any, where: str) -> Any:
    """`value` checked against (and, for sections, built as) `annotation`."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None:
            if type(None) in options:
                return None
            raise ConfigError(f"{where}: may not be null")
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return convert(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{where}: must be one of {list(allowed)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(annotation)
        return [convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(annotation, type) and issubclass(annotation, TypedConfig):
        if isinstance(value, annotation):
            return value
        if isinstance(value, TypedConfig):
            value = value.to_dict()
        return annotation.from_dict(value, where)
    if annotation is float:
        # PyYAML reads `5e-5` (no dot) as a string.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported config annotation {annotation!r}")


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _plain(value):
    if isinstance(value, TypedConfig):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plain(value):
    """Configs (or containers of them) as plain dicts and lists; other values as they are."""
    if isinstance(value, dict):
        return {key: plain(v) for key, v in value.items()}
    return _plain(value)
