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


__all__ = ["FRAME_PREFIX", "FRAME_SUFFIX", "event_payload", "js_dumps", "js_number", "sse_frame"]


FRAME_PREFIX = b"message:\ndata:"
"""What Flowise writes before an event's JSON (3.1.2 and later: ``message:`` everywhere)."""
FRAME_SUFFIX = b"\n\n"
"""What ends a frame."""


def sse_frame(event: ev.Event) -> bytes:
    """
    Return the bytes of one event as Flowise writes them (one ``write()`` per frame).

    Example:
        >>> from flowise_async.events import TokenEvent
        >>> sse_frame(TokenEvent(text="Hi"))
        b'message:\\ndata:{"event":"token","data":"Hi"}\\n\\n'
    """
    return FRAME_PREFIX + js_dumps(event_payload(event)).encode() + FRAME_SUFFIX
