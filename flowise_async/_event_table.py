"""
The event table: one row per Flowise event, and everything the package knows about it.

A row (`EventRow`) names the event's class (its ``wire_name`` is the name on the wire) and
says, in one place:

- **how it is read**: *parse* turns the frame's ``data`` into the event (default: an object of
  the class's fields, camelCase on the wire, read by the converter);
- **how it is written**: *write* turns the event into its ``data`` (default: that object), and
  *frame* gives the frame's keys besides ``event`` and ``data``;
- **what it adds to a** `~flowise_async.models.Prediction`: *fills* maps Prediction fields to
  the event's attributes; *adds* says whether the values add up over the run (text is
  concatenated, lists are extended, usages are summed) or a later event replaces an earlier
  one (a ``None`` value never replaces); *always* puts the event in the events of every JSON
  answer;
- **whether it carries the model's reasoning text** (*reasoning*: the attribute).

Everything that reads, writes or sums events reads this table: the decoder (`decode_event`,
`decode_message`, `decode_items`), the writers (`encode_event`, `event_payload`, and the frames
and relays built on them), the accumulator (`fill`, used by `PredictionAccumulator`) and its
inverse (`prediction_events`), the fake server's JSON answer and the OpenAI gateway
(`answer_text`, `reasoning_text`). Adding an event is one class in `flowise_async.events` and
one row in `ROWS` (``docs/architecture.md`` shows a worked example).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from . import events as ev
from ._convert import StructureError, _kind, _s_float, _s_int, converter, wire_names
from ._exceptions import EventDecodeError
from .models._prediction import (
    Action,
    AgentReasoning,
    Artifact,
    Document,
    ExecutedNode,
    FileAnnotation,
    Prediction,
    Usage,
    UsedTool,
)


__all__ = [
    "ROWS",
    "EventRow",
    "add_row",
    "answer_text",
    "combined",
    "decode_event",
    "decode_items",
    "decode_message",
    "encode_event",
    "event_payload",
    "event_types",
    "fill",
    "prediction_events",
    "reasoning_text",
    "remove_row",
]

Parse = Callable[[Any, Mapping[str, Any]], Any]
"""``(data, frame) -> event``: the frame is the whole decoded ``{"event", "data", ...}``."""
Write = Callable[[Any], Any]
"""``event -> data``: JSON-ready."""


@attrs.frozen(kw_only=True)
class EventRow:
    """
    One Flowise event: its class and how the package reads, writes and sums it.

    Attributes:
        cls: The frozen event class; its ``wire_name`` class variable is the name.
        parse: ``(data, frame) -> event``; None reads an object of the class's fields.
        write: ``event -> data``; None writes an object of the class's fields.
        frame: ``event -> keys`` of the frame besides ``event`` and ``data``.
        fills: Prediction field -> the event attribute that fills it.
        adds: Whether the filled values add up (else a later event replaces).
        always: Whether the events of every JSON answer hold this event (when none of its
            values is set, too).
        reasoning: The attribute holding the model's reasoning text, if the event has one.
    """

    cls: type[Any]
    parse: Parse | None = None
    write: Write | None = None
    frame: Callable[[Any], Mapping[str, Any]] | None = None
    fills: Mapping[str, str] = attrs.field(factory=dict)
    adds: bool = False
    always: bool = False
    reasoning: str | None = None

    @property
    def name(self) -> str:
        """The Flowise event name."""
        name: str = self.cls.wire_name
        return name


# --- payload readers ------------------------------------------------------------------------

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


def _start(data: Any, _: Any) -> ev.StartEvent:
    if type(data) is str:
        return ev.StartEvent(text=data)
    if type(data) is list:
        return ev.StartEvent(agent_reasoning=_list_of(AgentReasoning)(data))
    if data is None:
        return ev.StartEvent()
    raise StructureError(f"expected a string or an array, got {_kind(data)}")


def _write_start(event: ev.StartEvent) -> Any:
    if event.agent_reasoning is not None:
        return converter.unstructure(event.agent_reasoning)
    return event.text


def _thinking(data: Any, frame: Mapping[str, Any]) -> ev.ThinkingEvent:
    duration = frame.get("duration")
    return ev.ThinkingEvent(
        text="" if data is None else _text(data),
        duration=None if duration is None else _s_float(duration, float),
    )


def _thinking_frame(event: ev.ThinkingEvent) -> Mapping[str, Any]:
    return {} if event.duration is None else {"duration": event.duration}


_USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")


def _usage(data: Any, _: Any) -> ev.UsageMetadataEvent:
    # LangChain's usage object has snake_case keys: keep the unknown ones as the server sent them.
    if type(data) is not dict:
        raise StructureError(f"expected an object, got {_kind(data)}")
    counts = {k: None if data.get(k) is None else _s_int(data[k], int) for k in _USAGE_KEYS}
    extra = {k: v for k, v in data.items() if k not in _USAGE_KEYS}
    return ev.UsageMetadataEvent(**counts, extra=extra)


def _write_usage(event: ev.UsageMetadataEvent) -> Any:
    counts = {k: v for k in _USAGE_KEYS if (v := getattr(event, k)) is not None}
    return {**counts, **event.extra}


def _error(data: Any, _: Any) -> ev.ErrorEvent:
    return ev.ErrorEvent(message=data if type(data) is str else json.dumps(data))


def _done(_: Any) -> str:
    return "[DONE]"


# --- row builders: the usual payload shapes -------------------------------------------------


def _string_row(cls: type[Any], attr: str, **more: Any) -> EventRow:
    """An event whose payload is one string, the class's attribute *attr*."""
    return EventRow(
        cls=cls,
        parse=lambda data, _: cls(**{attr: _text(data)}),
        write=lambda event: getattr(event, attr),
        **more,
    )


def _list_row(
    cls: type[Any],
    attr: str,
    item: type[Any],
    *,
    read: Callable[[Any], list[Any]] | None = None,
    **more: Any,
) -> EventRow:
    """An event whose payload is an array of *item* objects, the class's attribute *attr*."""
    parse_list = read or _list_of(item)
    return EventRow(
        cls=cls,
        parse=lambda data, _: cls(**{attr: parse_list(data)}),
        write=lambda event: converter.unstructure(getattr(event, attr)),
        **more,
    )


def _fixed_row(event: Any) -> EventRow:
    """An event without content: always the same instance; Flowise writes ``[DONE]``."""
    return EventRow(cls=type(event), parse=lambda _d, _f: event, write=_done)


#: Every event this version knows. The order is the order of the events of a JSON answer
#: (`prediction_events`): the text first, the metadata last.
ROWS: tuple[EventRow, ...] = (
    EventRow(cls=ev.StartEvent, parse=_start, write=_write_start),
    _string_row(ev.TokenEvent, "text", fills={"text": "text"}, adds=True),
    EventRow(
        cls=ev.ThinkingEvent,
        parse=_thinking,
        write=lambda event: event.text,
        frame=_thinking_frame,
        reasoning="text",
    ),
    _list_row(
        ev.SourceDocumentsEvent,
        "documents",
        Document,
        read=_documents,
        fills={"source_documents": "documents"},
    ),
    _list_row(ev.UsedToolsEvent, "tools", UsedTool, fills={"used_tools": "tools"}),
    _list_row(ev.CalledToolsEvent, "tools", UsedTool),
    _string_row(ev.ToolEvent, "name"),
    _list_row(
        ev.ArtifactsEvent, "artifacts", Artifact, fills={"artifacts": "artifacts"}, adds=True
    ),
    _list_row(
        ev.FileAnnotationsEvent,
        "annotations",
        FileAnnotation,
        fills={"file_annotations": "annotations"},
        adds=True,
    ),
    _list_row(ev.AgentReasoningEvent, "steps", AgentReasoning, fills={"agent_reasoning": "steps"}),
    _string_row(ev.NextAgentEvent, "agent"),
    _string_row(ev.AgentFlowEventEvent, "state"),
    EventRow(cls=ev.NextAgentFlowEvent),
    _list_row(
        ev.AgentFlowExecutedDataEvent,
        "nodes",
        ExecutedNode,
        fills={"agent_flow_executed_data": "nodes"},
    ),
    EventRow(
        cls=ev.ActionEvent,
        parse=lambda data, _: ev.ActionEvent(action=converter.structure(data, Action)),
        write=lambda event: converter.unstructure(event.action),
        fills={"action": "action"},
    ),
    EventRow(
        cls=ev.UsageMetadataEvent,
        parse=_usage,
        write=_write_usage,
        fills={"usage": "usage"},
        adds=True,
    ),
    EventRow(
        cls=ev.MetadataEvent,
        fills={
            name: name
            for name in (
                "chat_id",
                "chat_message_id",
                "question",
                "session_id",
                "memory_type",
                "follow_up_prompts",
                "flow_variables",
                "action",
                "extra",
            )
        },
        always=True,
    ),
    EventRow(cls=ev.ErrorEvent, parse=_error, write=lambda event: event.message),
    _fixed_row(_ABORT),
    _fixed_row(_END),
    EventRow(cls=ev.TTSStartEvent),
    EventRow(cls=ev.TTSDataEvent),
    EventRow(cls=ev.TTSEndEvent),
    EventRow(cls=ev.TTSAbortEvent),
    EventRow(cls=ev.AgentTraceEvent),
    EventRow(cls=ev.ExecutionEndEvent),
    EventRow(cls=ev.ListenerReadyEvent),
)


# --- the lookups, derived from the rows (kept in step by add_row / remove_row) --------------

_rows: list[EventRow] = []
_BY_NAME: dict[str, EventRow] = {}
_BY_CLASS: dict[type[Any], EventRow] = {}
_TYPES: dict[str, type[Any]] = {}
_TYPES_VIEW: Mapping[str, type[Any]] = MappingProxyType(_TYPES)
#: The Flowise event name -> the parser of its payload (the decoder's one lookup).
_PARSERS: dict[str, Parse] = {}


def _object_parser(cls: type[Any]) -> Parse:
    hook = converter.get_structure_hook(cls)

    def parse(data: Any, _: Any) -> Any:
        return hook(data, cls)

    return parse


def add_row(row: EventRow) -> None:
    """
    Register *row*: the decoder, the writers, the accumulator and the fronts know its event
    from then on.

    Raises:
        TypeError: Another row has the same name or class.
    """
    name = row.name
    if name in _BY_NAME:
        other = _BY_NAME[name].cls.__name__
        raise TypeError(f"{row.cls.__name__} and {other} share the name {name!r}")
    if row.cls in _BY_CLASS:
        raise TypeError(f"{row.cls.__name__} has a row already")
    _rows.append(row)
    _BY_NAME[name] = row
    _BY_CLASS[row.cls] = row
    _TYPES[name] = row.cls
    _PARSERS[name] = row.parse or _object_parser(row.cls)


def remove_row(cls: type[Any]) -> None:
    """Unregister the row of *cls* (the inverse of `add_row`)."""
    row = _BY_CLASS.pop(cls)
    _rows.remove(row)
    del _BY_NAME[row.name], _TYPES[row.name], _PARSERS[row.name]


def _build(rows: tuple[EventRow, ...]) -> None:
    for row in rows:
        add_row(row)


_build(ROWS)


def event_types() -> Mapping[str, type[Any]]:
    """Every registered event name, mapped to its class (a read-only live view)."""
    return _TYPES_VIEW


# --- reading --------------------------------------------------------------------------------


def _truncate(text: str) -> str:
    if len(text) <= _MAX_DATA_IN_ERRORS:
        return text
    return text[:_MAX_DATA_IN_ERRORS] + f"... ({len(text)} characters)"


_loads = json.loads


def decode_event(data: str, sse_type: str = "message") -> ev.Event:
    """
    Turn the ``data`` of one SSE event into a typed event.

    Flowise sends ``{"event": <name>, "data": <payload>}`` in events of the default type
    ``message``. An SSE event with another type (as the FastAPI relay writes them) is read as
    ``event: <name>`` with the JSON payload as its data.

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
    parser = _PARSERS.get(name)
    if parser is None:
        return ev.UnknownEvent(name=name, data=payload)
    try:
        event: ev.Event = parser(payload, frame)
    except (StructureError, TypeError, ValueError, AttributeError) as exc:
        raise EventDecodeError(
            f"cannot decode the {name!r} event: {exc}", event=name, data=_truncate(data)
        ) from None
    return event


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


# --- writing --------------------------------------------------------------------------------


def encode_event(event: ev.Event) -> tuple[str, Any]:
    """
    Return the Flowise ``(event name, data payload)`` of a typed event (the inverse of
    `decode_event`, up to ``None`` fields, which are left out).
    """
    if type(event) is ev.UnknownEvent:
        return event.name, event.data
    row = _BY_CLASS[type(event)]
    write = row.write
    return row.name, converter.unstructure(event) if write is None else write(event)


def event_payload(event: ev.Event) -> dict[str, Any]:
    """
    Return the JSON object Flowise writes for *event*: ``{"event": <name>, "data": <payload>}``.

    A `~flowise_async.events.ThinkingEvent` with a *duration* also gets Flowise's top-level
    ``duration`` key.

    Example:
        >>> from flowise_async.events import TokenEvent
        >>> event_payload(TokenEvent(text="Hi"))
        {'event': 'token', 'data': 'Hi'}
    """
    name, data = encode_event(event)
    payload: dict[str, Any] = {"event": name, "data": data}
    row = _BY_CLASS.get(type(event))
    if row is not None and row.frame is not None:
        payload.update(row.frame(event))
    return payload


# --- what an event adds to a Prediction -----------------------------------------------------


def fill(parts: dict[str, Any], event: Any) -> None:
    """
    Add what *event* brings to *parts* (Prediction field -> value, in the order first filled).

    Values that add up are kept as a list of the pieces (`combined` joins them); others
    replace the earlier value, except with ``None``.
    """
    row = _BY_CLASS.get(type(event))
    if row is None:
        return
    adds = row.adds
    for field, attr in row.fills.items():
        value = getattr(event, attr)
        if value is None:
            continue
        if not adds:
            parts[field] = value
        elif (pieces := parts.get(field)) is None:
            parts[field] = list(value) if type(value) is list else [value]
        elif type(value) is list:
            pieces.extend(value)
        else:
            pieces.append(value)


def _sum(field: str, pieces: list[Any]) -> Any:
    if field == "text":
        return "".join(pieces)
    if pieces and isinstance(pieces[0], Usage):
        return Usage.total(pieces)
    return list(pieces)


def combined(parts: Mapping[str, Any]) -> dict[str, Any]:
    """*parts* (as `fill` collects them) as Prediction field values: the pieces added up."""
    adding = _adding_fields()
    return {
        field: _sum(field, value)
        if field in adding
        else (list(value) if type(value) is list else value)
        for field, value in parts.items()
    }


def _adding_fields() -> set[str]:
    return {field for row in _rows if row.adds for field in row.fills}


def _present(value: Any) -> bool:
    return value is not None and value not in ("", [], {})


def prediction_events(prediction: Prediction) -> list[ev.Event]:
    """
    The events a stream yields for a plain JSON answer (a flow that cannot stream), the
    inverse of `fill`, then ``end``.

    Rows are taken in table order (the text first, the metadata last); a field is given back
    by the first row that fills it, so a row whose fields all came with earlier rows is left
    out, as are fields the client derives. A row's event is yielded when one of its values is
    set (or always, for a row marked *always*).
    """
    covered = _derived_fields()
    out: list[ev.Event] = []
    for row in _rows:
        fields = row.fills.keys()
        if not fields or covered.issuperset(fields):
            continue
        covered.update(fields)
        values = {attr: getattr(prediction, field) for field, attr in row.fills.items()}
        if row.always or any(_present(value) for value in values.values()):
            out.append(row.cls(**values))
    out.append(_END)
    return out


def _derived_fields() -> set[str]:
    return set(attrs.fields_dict(Prediction)) - set(wire_names(Prediction)) - {"extra"}


def answer_text(event: Any) -> str | None:
    """The answer text *event* adds (a ``token``'s text), or None."""
    row = _BY_CLASS.get(type(event))
    attr = None if row is None else row.fills.get("text")
    return None if attr is None else getattr(event, attr)


def reasoning_text(event: Any) -> str | None:
    """The model's reasoning text *event* carries (a ``thinking``'s text), or None."""
    row = _BY_CLASS.get(type(event))
    attr = None if row is None else row.reasoning
    return None if attr is None else getattr(event, attr)
