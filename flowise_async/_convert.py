"""
The one private cattrs converter, and the only place that knows Flowise's wire names.

- Attribute names are snake_case; wire names are camelCase, derived once per class (a field can
  name its own wire key with ``metadata={WIRE: "name"}``).
- Classes with an ``extra`` field keep every key they do not know there, so fields the server
  adds later are never an error and never lost.
- Fields marked ``metadata={JSON_STRING: True}`` hold JSON that the server stores as a string
  (``flowData``, ``chatbotConfig``, ``followUpPrompts`` ...): decoded on read, encoded on write.
- Scalars are checked, not coerced: a number where a string belongs is an error.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import attrs
import cattrs

from . import events as ev
from ._exceptions import EventDecodeError
from ._types import DERIVED, JSON_STRING, WIRE
from .models._prediction import (
    Action,
    AgentReasoning,
    Artifact,
    Document,
    ExecutedNode,
    FileAnnotation,
    Prediction,
    UsedTool,
    answered,
)


__all__ = [
    "JSON_STRING",
    "WIRE",
    "converter",
    "decode_event",
    "decode_items",
    "decode_message",
    "encode_event",
    "structure",
    "unstructure",
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


def _attrs_structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cls)
    specs: list[tuple[str, str, Any, bool, bool, bool]] = []
    known: set[str] = set()
    has_extra = False
    for field in attrs.fields(cls):
        if field.name == "extra":
            has_extra = True
            continue
        if field.metadata.get(DERIVED):
            continue  # derived by the client, never read from the wire
        wire = field.metadata.get(WIRE) or camel(field.name)
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
    specs = [
        (
            field.name,
            field.metadata.get(WIRE) or camel(field.name),
            bool(field.metadata.get(JSON_STRING)),
        )
        for field in attrs.fields(cls)
        if field.name != "extra" and not field.metadata.get(DERIVED)
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
                value = json.dumps(value, separators=(",", ":"))
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


# --- events ---------------------------------------------------------------------------------

_END = ev.EndEvent()
_ABORT = ev.AbortEvent()
_MAX_DATA_IN_ERRORS = 200


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    raise StructureError(f"expected a string, got {_kind(value)}")


def _list_of(cls: type[Any]) -> Callable[[Any], list[Any]]:
    hook = converter.get_structure_hook(list[cls])  # type: ignore[valid-type]
    t = list[cls]  # type: ignore[valid-type]

    def parse(value: Any) -> list[Any]:
        if value is None:
            return []
        return hook(value, t)  # type: ignore[no-any-return]

    return parse


_documents_generic = _list_of(Document)


def _documents(value: Any) -> list[Any]:
    """
    `_list_of(Document)` with a fast path for the usual document, an object of exactly a
    string ``pageContent`` and an object ``metadata`` (thousands of them in a large
    ``sourceDocuments`` event): built directly, as the generic hook would build it. Any other
    shape, in any item, takes the generic path, which gives the typed error.
    """
    if type(value) is not list:
        return _documents_generic(value)
    out: list[Any] = []
    append = out.append
    for item in value:
        if (
            type(item) is dict
            and len(item) == 2
            and type(page := item.get("pageContent")) is str
            and type(metadata := item.get("metadata")) is dict
        ):
            append(Document(page_content=page, metadata=metadata, extra={}))
        else:
            return _documents_generic(value)
    return out


_tools = _list_of(UsedTool)


def _start(data: Any, _: Any) -> ev.StartEvent:
    if type(data) is str:
        return ev.StartEvent(text=data)
    if type(data) is list:
        return ev.StartEvent(agent_reasoning=_list_of(AgentReasoning)(data))
    if data is None:
        return ev.StartEvent()
    raise StructureError(f"expected a string or an array, got {_kind(data)}")


def _token(data: Any, _: Any) -> ev.TokenEvent:
    if type(data) is str:
        return ev.TokenEvent(text=data)
    raise StructureError(f"expected a string, got {_kind(data)}")


def _thinking(data: Any, frame: Any) -> ev.ThinkingEvent:
    duration = frame.get("duration")
    return ev.ThinkingEvent(
        text="" if data is None else _text(data),
        duration=None if duration is None else _s_float(duration, float),
    )


def _metadata(data: Any, _: Any) -> ev.MetadataEvent:
    return converter.structure(data, ev.MetadataEvent)


_USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")


def _usage(data: Any) -> ev.UsageMetadataEvent:
    # LangChain's usage object has snake_case keys: keep the unknown ones as the server sent them.
    if type(data) is not dict:
        raise StructureError(f"expected an object, got {_kind(data)}")
    counts = {k: None if data.get(k) is None else _s_int(data[k], int) for k in _USAGE_KEYS}
    extra = {k: v for k, v in data.items() if k not in _USAGE_KEYS}
    return ev.UsageMetadataEvent(**counts, extra=extra)


def _obj(cls: type[Any]) -> Callable[[Any, Any], Any]:
    hook = converter.get_structure_hook(cls)

    def parse(data: Any, _: Any) -> Any:
        return hook(data, cls)

    return parse


# How the payload of each event class is read, when it is not an object of the class's fields
# (those are read by the class's own structure hook). Keyed by class: the wire names live on
# the classes (``events.event_types()``).
_SPECIAL_PARSERS: dict[type[Any], Callable[[Any, Any], ev.Event]] = {
    ev.TokenEvent: _token,
    ev.StartEvent: _start,
    ev.EndEvent: lambda _d, _f: _END,
    ev.MetadataEvent: _metadata,
    ev.ThinkingEvent: _thinking,
    ev.SourceDocumentsEvent: lambda d, _: ev.SourceDocumentsEvent(documents=_documents(d)),
    ev.UsedToolsEvent: lambda d, _: ev.UsedToolsEvent(tools=_tools(d)),
    ev.CalledToolsEvent: lambda d, _: ev.CalledToolsEvent(tools=_tools(d)),
    ev.ToolEvent: lambda d, _: ev.ToolEvent(name=_text(d)),
    ev.ArtifactsEvent: lambda d, _: ev.ArtifactsEvent(artifacts=_list_of(Artifact)(d)),
    ev.FileAnnotationsEvent: lambda d, _: ev.FileAnnotationsEvent(
        annotations=_list_of(FileAnnotation)(d)
    ),
    ev.AgentReasoningEvent: lambda d, _: ev.AgentReasoningEvent(steps=_list_of(AgentReasoning)(d)),
    ev.NextAgentEvent: lambda d, _: ev.NextAgentEvent(agent=_text(d)),
    ev.ActionEvent: lambda d, _: ev.ActionEvent(action=converter.structure(d, Action)),
    ev.AgentFlowEventEvent: lambda d, _: ev.AgentFlowEventEvent(state=_text(d)),
    ev.AgentFlowExecutedDataEvent: lambda d, _: ev.AgentFlowExecutedDataEvent(
        nodes=_list_of(ExecutedNode)(d)
    ),
    ev.UsageMetadataEvent: lambda d, _: _usage(d),
    ev.ErrorEvent: lambda d, _: ev.ErrorEvent(message=d if type(d) is str else json.dumps(d)),
    ev.AbortEvent: lambda _d, _f: _ABORT,
}

#: The Flowise event name -> the parser of its payload, for every class of the registry.
_EVENT_PARSERS: dict[str, Callable[[Any, Any], ev.Event]] = {
    name: _SPECIAL_PARSERS.get(cast("type[Any]", cls)) or _obj(cast("type[Any]", cls))
    for name, cls in ev.event_types().items()
}


def _truncate(text: str) -> str:
    if len(text) <= _MAX_DATA_IN_ERRORS:
        return text
    return text[:_MAX_DATA_IN_ERRORS] + f"... ({len(text)} characters)"


_loads = json.loads


def decode_event(data: str, sse_type: str = "message") -> ev.Event:
    """
    Turn the ``data`` of one SSE event into a typed event.

    Flowise sends ``{"event": <name>, "data": <payload>}`` in events of the default type
    ``message``. An SSE event with another type (as written by `encode_event` with
    ``style="typed"``) is read as ``event: <name>`` with the JSON payload as its data.

    Raises:
        EventDecodeError: The data is not JSON, or does not fit the event's type.
    """
    try:
        frame = _loads(data)
    except ValueError as exc:
        name = None if sse_type == "message" else sse_type
        raise EventDecodeError(
            f"event data is not valid JSON ({exc})", event=name, data=_truncate(data)
        ) from None
    if sse_type == "message":
        if type(frame) is not dict or type(name := frame.get("event")) is not str:
            raise EventDecodeError(
                'expected a JSON object with a string "event" key, as Flowise sends',
                event=None,
                data=_truncate(data),
            )
        payload = frame.get("data")
    else:
        name, payload = sse_type, frame
        frame = {"event": name, "data": payload}
    parser = _EVENT_PARSERS.get(name)
    if parser is None:
        return ev.UnknownEvent(name=name, data=payload)
    try:
        return parser(payload, frame)
    except (StructureError, TypeError, ValueError, AttributeError) as exc:
        raise EventDecodeError(
            f"cannot decode the {name!r} event: {exc}", event=name, data=_truncate(data)
        ) from None


_TOKEN_PREFIX = '{"event":"token","data":"'  # noqa: S105 - a frame prefix, not a secret
_TOKEN_PREFIX_LEN = len(_TOKEN_PREFIX)
_TokenEvent = ev.TokenEvent
_new_token = object.__new__
_set_attr = object.__setattr__
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def decode_message(data: str) -> ev.Event:
    """
    `decode_event` for an SSE event of the default type, with a fast path for token frames.

    ``{"event":"token","data":"<JSON string>"}`` is decoded by the JSON module's own string
    scanner, without building the dict: the result is what json.loads would give. Anything
    else, or anything the scanner refuses, takes the full path (which raises the typed error).
    """
    if data.startswith(_TOKEN_PREFIX):
        try:
            text, end = _scanstring(data, _TOKEN_PREFIX_LEN, True)
        except ValueError:
            pass
        else:
            if end == len(data) - 1 and data[end] == "}":
                token = _new_token(_TokenEvent)
                _set_attr(token, "text", text)  # as TokenEvent(text=text), without attrs' checks
                return token
    return decode_event(data)


def decode_items(items: list[Any]) -> list[ev.Event]:
    """
    Decode the raw output of an `SSEDecoder` in raw mode (str = a default-type event).

    The token fast path of `decode_message` is inlined here: one function call less per event.
    """
    out: list[ev.Event] = []
    append = out.append
    for item in items:
        if type(item) is not str:
            append(decode_event(item.data, item.event))
            continue
        if item.startswith(_TOKEN_PREFIX):
            try:
                text, end = _scanstring(item, _TOKEN_PREFIX_LEN, True)
            except ValueError:
                pass
            else:
                if end == len(item) - 1 and item[end] == "}":
                    token = _new_token(_TokenEvent)
                    _set_attr(token, "text", text)
                    append(token)
                    continue
        append(decode_event(item))
    return out


def encode_event(event: ev.Event) -> tuple[str, Any]:
    """
    Return the Flowise ``(event name, data payload)`` of a typed event (the inverse of
    `decode_event`, up to ``None`` fields, which are left out).
    """
    name = ev.event_name(event)
    if type(event) is ev.UnknownEvent:
        return name, event.data
    if type(event) is ev.TokenEvent:
        return name, event.text
    if type(event) is ev.StartEvent:
        if event.agent_reasoning is not None:
            return name, converter.unstructure(event.agent_reasoning)
        return name, event.text
    if type(event) is ev.ThinkingEvent:
        return name, event.text
    if type(event) in (ev.EndEvent, ev.AbortEvent):
        return name, "[DONE]"
    if type(event) is ev.ErrorEvent:
        return name, event.message
    if type(event) in (ev.ToolEvent,):
        return name, event.name  # type: ignore[union-attr]
    if type(event) is ev.NextAgentEvent:
        return name, event.agent
    if type(event) is ev.AgentFlowEventEvent:
        return name, event.state
    if type(event) is ev.ActionEvent:
        return name, converter.unstructure(event.action)
    if type(event) is ev.UsageMetadataEvent:
        usage = {k: v for k, v in attrs.asdict(event).items() if k != "extra" and v is not None}
        return name, {**usage, **event.extra}
    if type(event) is ev.MetadataEvent:
        data = converter.unstructure(event)
        if event.follow_up_prompts is not None:
            data["followUpPrompts"] = json.dumps(event.follow_up_prompts)
        return name, data
    list_field = {
        ev.SourceDocumentsEvent: "documents",
        ev.UsedToolsEvent: "tools",
        ev.CalledToolsEvent: "tools",
        ev.ArtifactsEvent: "artifacts",
        ev.FileAnnotationsEvent: "annotations",
        ev.AgentReasoningEvent: "steps",
        ev.AgentFlowExecutedDataEvent: "nodes",
    }.get(type(event))
    if list_field is not None:
        return name, converter.unstructure(getattr(event, list_field))
    return name, converter.unstructure(event)


def structure_prediction(data: Any) -> Prediction:
    """Structure a non-streaming prediction answer (with its derived status and usage)."""
    return answered(converter.structure(data, Prediction))
