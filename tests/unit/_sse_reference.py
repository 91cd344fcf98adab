"""
A plain reference decoder for Server-Sent Events: the WHATWG algorithm step by step.

It reads a whole stream at once, with no speed tricks, so that the real decoder (which has a
fast path and works chunk by chunk) can be held equal to it. The library's size caps are
applied the plainest way: in stream order, a line longer than the line cap fails, and a data
line that makes the event's data (lines joined with LF) larger than the event cap fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowise_async._sse import LINE_ALLOWANCE, ServerSentEvent


@dataclass
class Outcome:
    """The events dispatched, the error that stopped the stream (if any), the committed id."""

    events: list[ServerSentEvent] = field(default_factory=list)
    error: str | None = None  # "line" or "event"
    last_event_id: str | None = None


def split_lines(stream: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines (CRLF, LF or CR end one) and the unterminated rest."""
    lines: list[bytes] = []
    current = bytearray()
    i = 0
    while i < len(stream):
        byte = stream[i]
        if byte == 0x0D:  # CR, or CR LF
            lines.append(bytes(current))
            current = bytearray()
            if i + 1 < len(stream) and stream[i + 1] == 0x0A:
                i += 1
        elif byte == 0x0A:  # LF
            lines.append(bytes(current))
            current = bytearray()
        else:
            current.append(byte)
        i += 1
    return lines, bytes(current)


def reference_decode(
    stream: bytes, max_event_size: int, last_event_id: str | None = None
) -> Outcome:
    """Decode one whole stream, starting from the committed id of an earlier connection."""
    out = Outcome(last_event_id=last_event_id)
    line_max = max_event_size + LINE_ALLOWANCE
    if stream.startswith(b"\xef\xbb\xbf"):  # one leading BOM is ignored
        stream = stream[3:]
    lines, rest = split_lines(stream)
    data_buffer: list[bytes] = []
    event_type = ""
    id_buffer = last_event_id
    retry: int | None = None
    for line in lines:
        if line == b"":
            # Dispatch the event.
            out.last_event_id = id_buffer
            if data_buffer:
                text = b"\n".join(data_buffer).decode("utf-8", "replace")
                out.events.append(
                    ServerSentEvent(text, event_type or "message", out.last_event_id, retry)
                )
            data_buffer = []
            event_type = ""
            retry = None
            continue
        if len(line) > line_max:
            out.error = "line"
            return out
        if line.startswith(b":"):
            continue  # a comment
        if b":" in line:
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
        else:
            name, value = line, b""
        if name == b"event":
            event_type = value.decode("utf-8", "replace")
        elif name == b"data":
            data_buffer.append(value)
            if len(b"\n".join(data_buffer)) > max_event_size:
                out.error = "event"
                return out
        elif name == b"id":
            if b"\x00" not in value:
                id_buffer = value.decode("utf-8", "replace")
        elif name == b"retry" and value and all(0x30 <= b <= 0x39 for b in value):
            retry = int(value)
        # Any other field is ignored.
    if len(rest) > line_max:
        out.error = "line"
    return out
