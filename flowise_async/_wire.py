"""
Flowise's wire text: JSON as JavaScript's ``JSON.stringify`` writes it, and event frames.

Production code (`compat`, the fronts) and the test helpers (`testing`) both write events the
way the server does; this module holds that knowledge once, without any server or HTTP code.
The payload of each event is its row's in the event table (`flowise_async._event_table`).
"""

from __future__ import annotations

from . import events as ev
from ._event_table import event_payload
from ._jstext import js_dumps, js_number


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
