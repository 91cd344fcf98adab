"""
The three output formats of the fronts, as small adapters on the one SSE writer of `_wire`.

- **Flowise's frames** (the widget proxy): ``message:`` / ``data:{"event", "data"}``, the
  heartbeat Flowise itself writes (``:heartbeat``);
- **typed events** (the relay): ``event: <name>`` / ``data: <payload>``, heartbeat ``: ping``;
- **OpenAI chunks** (the gateway): ``data: <chunk>``, heartbeat ``: keep-alive``.

Each format has one error renderer over the one rule of `describe_error` (and
`describe_event_error` for Flowise's in-band text), and every stream goes out as a
`DisconnectAwareResponse` with the one header set.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from .._wire import SSE_HEADERS, js_dumps, sse_comment, sse_fields
from .errors import SafeError
from .streaming import DisconnectAwareResponse


__all__ = [
    "FLOWISE_HEARTBEAT",
    "OPENAI_HEARTBEAT",
    "RELAY_HEARTBEAT",
    "STREAM_HEADERS",
    "data_frame",
    "event_stream",
    "flowise_error_frames",
    "flowise_frame",
    "named_frame",
    "relay_error_frames",
]

#: The SSE headers of every streamed answer (the ASGI server writes ``Connection``; the media
#: type gives ``Content-Type``).
STREAM_HEADERS: Final[Mapping[str, str]] = {
    name: value for name, value in SSE_HEADERS.items() if name not in {"Connection", "Content-Type"}
}

FLOWISE_HEARTBEAT: Final = sse_comment("heartbeat")
RELAY_HEARTBEAT: Final = sse_comment(" ping")
OPENAI_HEARTBEAT: Final = sse_comment(" keep-alive")


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # built once


def _json(payload: Any) -> bytes:
    return _encode(payload).encode()


def flowise_frame(name: str, data: Any) -> bytes:
    """A frame in Flowise's own format (``message:`` / ``data:{"event", "data"}``)."""
    return sse_fields(b"message:", b"data:" + js_dumps({"event": name, "data": data}).encode())


def named_frame(name: str, payload: Any) -> bytes:
    """A standard SSE frame: ``event: <name>`` and the payload as one line of JSON."""
    return sse_fields(b"event: " + name.encode(), b"data: " + _encode(payload).encode())


def data_frame(payload: Any) -> bytes:
    """A frame of data only (``data: <json>``, OpenAI's chunks)."""
    return sse_fields(b"data: " + (payload if isinstance(payload, bytes) else _json(payload)))


def relay_error_frames(error: SafeError) -> bytes:
    """The relay's end of a failed answer: an ``error`` frame (type, message), then ``end``."""
    return named_frame("error", error.payload()) + named_frame("end", "[DONE]")


def flowise_error_frames(error: SafeError, *, end: bool = True) -> bytes:
    """The widget's error frame (the safe message as Flowise's ``error`` data), then ``end``."""
    frames = flowise_frame("error", error.message)
    return frames + flowise_frame("end", "[DONE]") if end else frames


def event_stream(
    body: AsyncIterator[bytes], *, headers: Mapping[str, str] | None = None
) -> DisconnectAwareResponse:
    """A streamed SSE answer with the one header set, closed as soon as the caller leaves."""
    return DisconnectAwareResponse(
        body, headers={**STREAM_HEADERS, **(headers or {})}, media_type="text/event-stream"
    )
