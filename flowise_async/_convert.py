"""
The one private cattrs converter, and the only place that knows Flowise's wire names.

The payloads of the stream's events are the event table's (`flowise_async._event_table`),
which builds on this converter.

- Attribute names are snake_case; wire names are camelCase, derived once per class (a field can
  name its own wire key with ``metadata={WIRE: "name"}``).
- Classes with an ``extra`` field keep every key they do not know there, so fields the server
  adds later are never an error and never lost.
- Fields marked ``metadata={JSON_STRING: True}`` hold JSON that the server stores as a string
  (``flowData``, ``chatbotConfig``, ``followUpPrompts`` ...): decoded on read, encoded on write
  as JavaScript's ``JSON.stringify`` writes it (`js_dumps`), which is what the server stores.
- Scalars are checked, not coerced: a number where a string belongs is an error.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs

from ._jstext import js_dumps
from ._types import DERIVED, JSON_STRING, WIRE
from .models._prediction import Prediction, answered


__all__ = [
    "JSON_STRING",
    "WIRE",
    "StructureError",
    "converter",
    "structure",
    "structure_prediction",
    "unstructure",
    "wire_names",
]

T = TypeVar("T")


converter = cattrs.Converter()
_NoneType = type(None)


class StructureError(ValueError):
    """A value does not have the shape its type requires (message names the path)."""


def camel(name: str) -> str:
    """Return the camelCase wire name of a snake_case attribute name."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- strict scalar hooks -------------------------------------------------------------------


def _s_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise StructureError(f"expected a string, got {_kind(value)}")


def _s_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise StructureError(f"expected an integer, got {_kind(value)}")


def _s_float(value: Any, _: Any) -> float:
    if type(value) in (int, float):
        return float(value)
    raise StructureError(f"expected a number, got {_kind(value)}")


def _s_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise StructureError(f"expected true or false, got {_kind(value)}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    name = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value))
    return name or f"a {type(value).__name__}"


converter.register_structure_hook(str, _s_str)
converter.register_structure_hook(int, _s_int)
converter.register_structure_hook(float, _s_float)
converter.register_structure_hook(bool, _s_bool)


def _is_mapping_type(t: Any) -> bool:
    origin = typing.get_origin(t)
    return origin in (dict, Mapping) or t in (dict, Mapping)


def _mapping_hook_factory(t: Any) -> Callable[[Any, Any], Any]:
    args = typing.get_args(t)
    value_type = args[1] if len(args) == 2 else Any
    if value_type is Any:

        def passthrough(value: Any, _: Any) -> Any:
            if type(value) is dict:
                return value
            raise StructureError(f"expected an object, got {_kind(value)}")

        return passthrough
    inner = converter.get_structure_hook(value_type)

    def structure_mapping(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise StructureError(f"expected an object, got {_kind(value)}")
        return {k: inner(v, value_type) for k, v in value.items()}

    return structure_mapping


def _is_list_type(t: Any) -> bool:
    return typing.get_origin(t) is list or t is list


def _list_hook_factory(t: Any) -> Callable[[Any, Any], Any]:
    args = typing.get_args(t)
    item_type = args[0] if args else Any
    if item_type is Any:

        def passthrough(value: Any, _: Any) -> Any:
            if type(value) is list:
                return value
            raise StructureError(f"expected an array, got {_kind(value)}")

        return passthrough
    inner = converter.get_structure_hook(item_type)

    def structure_list(value: Any, _: Any) -> list[Any]:
        if type(value) is not list:
            raise StructureError(f"expected an array, got {_kind(value)}")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(inner(item, item_type))
            except StructureError as exc:
                raise StructureError(f"[{index}]: {exc}") from None
        return out

    return structure_list


converter.register_structure_hook_factory(_is_mapping_type, _mapping_hook_factory)
converter.register_structure_hook_factory(_is_list_type, _list_hook_factory)


def _allows_none(t: Any) -> bool:
    return t is Any or _NoneType in typing.get_args(t)


def _decode_json_string(value: Any) -> Any:
    # Decode up to twice: some columns are JSON strings of JSON strings (followUpPrompts).
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


# --- attrs classes: camelCase, extra, JSON-string columns ----------------------------------


def wire_names(cls: type[Any]) -> dict[str, str]:
    """
    The wire name of each field of the attrs class *cls* that the wire carries: its
    ``metadata={WIRE: ...}`` or its camelCase name (not ``extra``, not derived fields).
    """
    return {
        field.name: field.metadata.get(WIRE) or camel(field.name)
        for field in attrs.fields(cls)
        if field.name != "extra" and not field.metadata.get(DERIVED)
    }


def _attrs_structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cls)
    specs: list[tuple[str, str, Any, bool, bool, bool]] = []
    known: set[str] = set()
    has_extra = False
    names = wire_names(cls)  # derived fields are the client's, never read from the wire
    for field in attrs.fields(cls):
        if field.name == "extra":
            has_extra = True
            continue
        if field.name not in names:
            continue
        wire = names[field.name]
        known.add(wire)
        specs.append(
            (
                wire,
                field.alias or field.name,
                field.type,
                bool(field.metadata.get(JSON_STRING)),
                _allows_none(field.type),
                field.default is not attrs.NOTHING,
            )
        )
    name = cls.__name__

    def structure_attrs(obj: Any, _: Any) -> Any:
        if type(obj) is not dict:
            raise StructureError(f"{name}: expected an object, got {_kind(obj)}")
        kwargs: dict[str, Any] = {}
        for wire, arg, t, json_string, nullable, has_default in specs:
            if wire not in obj:
                if not has_default:
                    raise StructureError(f"{name}: missing {wire!r}")
                continue
            value = obj[wire]
            if json_string:
                value = _decode_json_string(value)
            if value is None:
                if nullable:
                    kwargs[arg] = None
                    continue
                if has_default:
                    continue  # the server sends null for "not set": keep the default
                raise StructureError(f"{name}.{wire}: expected a value, got null")
            try:
                kwargs[arg] = converter.structure(value, t)
            except StructureError as exc:
                raise StructureError(f"{name}.{wire}: {exc}") from None
        if has_extra:
            kwargs["extra"] = {k: v for k, v in obj.items() if k not in known}
        return cls(**kwargs)

    return structure_attrs


def _attrs_unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
    attrs.resolve_types(cls)
    names = wire_names(cls)
    specs = [
        (field.name, names[field.name], bool(field.metadata.get(JSON_STRING)))
        for field in attrs.fields(cls)
        if field.name in names
    ]
    has_extra = any(field.name == "extra" for field in attrs.fields(cls))

    def unstructure_attrs(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if has_extra:
            out.update(obj.extra)
        for attr, wire, json_string in specs:
            value = getattr(obj, attr)
            if value is None:
                continue
            value = converter.unstructure(value)
            if json_string and not isinstance(value, str):
                value = js_dumps(value)  # as the server's JSON.stringify stores it
            out[wire] = value
        return out

    return unstructure_attrs


converter.register_structure_hook_factory(attrs.has, _attrs_structure_factory)
converter.register_unstructure_hook_factory(attrs.has, _attrs_unstructure_factory)


def structure(value: Any, cls: type[T]) -> T:
    """Structure decoded JSON into *cls* with the private converter."""
    return converter.structure(value, cls)


def unstructure(value: Any) -> Any:
    """Turn a value into JSON-ready data with wire names."""
    return converter.unstructure(value)


def structure_prediction(data: Any) -> Prediction:
    """Structure a non-streaming prediction answer (with its derived status and usage)."""
    return answered(converter.structure(data, Prediction))
