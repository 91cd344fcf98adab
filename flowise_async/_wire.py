"""
Flowise's wire text: JSON as JavaScript's ``JSON.stringify`` writes it, and event frames.

Production code (`compat`) and the test helpers (`testing`) both write events the way the
server does; this module holds that knowledge once, without any server or HTTP code.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from . import events as ev
from ._convert import encode_event


__all__ = [
    "FRAME_PREFIX",
    "FRAME_SUFFIX",
    "SSE_HEADERS",
    "event_payload",
    "js_dumps",
    "js_number",
    "sse_comment",
    "sse_fields",
    "sse_frame",
]

_FLOAT_MARK = "\ue000flowise-float\ue000"


def js_number(value: float) -> str:
    """Write a finite float as JavaScript's ``Number.prototype.toString`` does."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    k = len(digits)
    n = int(exponent) + len(digit_tuple)  # value = 0.digits x 10^n
    minus = "-" if sign else ""
    if k <= n <= 21:
        return minus + digits + "0" * (n - k)
    if 0 < n <= 21:
        return minus + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return minus + "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{minus}{mantissa}e{'+' if n - 1 > 0 else '-'}{abs(n - 1)}"


def _mark_floats(value: Any, floats: list[str]) -> Any:
    if type(value) is float:
        floats.append(js_number(value))
        return f"{_FLOAT_MARK}{len(floats) - 1}{_FLOAT_MARK}"
    if isinstance(value, dict):
        return {k: _mark_floats(v, floats) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark_floats(v, floats) for v in value]
    return value


def js_dumps(value: Any) -> str:
    """The output of JavaScript's JSON.stringify: compact, non-ASCII as raw UTF-8, JS numbers."""
    floats: list[str] = []
    text = json.dumps(_mark_floats(value, floats), separators=(",", ":"), ensure_ascii=False)
    if not floats:
        return text
    pieces = text.split(f'"{_FLOAT_MARK}')
    out = [pieces[0]]
    for piece in pieces[1:]:
        index, _, rest = piece.partition(f'{_FLOAT_MARK}"')
        out.append(floats[int(index)] + rest)
    return "".join(out)


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
    if isinstance(event, ev.MetadataEvent) and event.follow_up_prompts is not None:
        data = dict(data)
        data["followUpPrompts"] = js_dumps(event.follow_up_prompts)
    payload: dict[str, Any] = {"event": name, "data": data}
    if isinstance(event, ev.ThinkingEvent) and event.duration is not None:
        payload["duration"] = event.duration
    return payload


FRAME_PREFIX = b"message:\ndata:"
"""What Flowise writes before an event's JSON (3.1.2 and later: ``message:`` everywhere)."""
FRAME_SUFFIX = b"\n\n"
"""What ends a frame."""


SSE_HEADERS: dict[str, str] = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}
"""The headers of an SSE answer, as Flowise sends them (and every server side of ours).
``Connection`` is Flowise's HTTP/1.1 header; an ASGI server manages its own."""


def sse_fields(*lines: bytes) -> bytes:
    """
    The one byte-level SSE writer: one frame of already-formatted field lines (``data: ...``,
    ``event: ...``, ``:comment``), each a line of its own, ended by a blank line. A line must
    not hold a line break (compact JSON never does).

    Example:
        >>> sse_fields(b"event: token", b'data: "Hi"')
        b'event: token\\ndata: "Hi"\\n\\n'
    """
    return b"\n".join(lines) + FRAME_SUFFIX


def sse_comment(text: str) -> bytes:
    """An SSE comment frame (``:<text>``), e.g. a heartbeat; clients skip it."""
    return sse_fields(b":" + text.encode())


def sse_frame(event: ev.Event) -> bytes:
    """
    Return the bytes of one event as Flowise writes them (one ``write()`` per frame).

    Example:
        >>> from flowise_async.events import TokenEvent
        >>> sse_frame(TokenEvent(text="Hi"))
        b'message:\\ndata:{"event":"token","data":"Hi"}\\n\\n'
    """
    return sse_fields(b"message:", b"data:" + js_dumps(event_payload(event)).encode())
