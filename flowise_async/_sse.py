"""
A pure, incremental decoder for Server-Sent Events.

It follows the WHATWG HTML "Interpreting an event stream" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
bytes go in, `ServerSentEvent` values come out; there is no I/O, no asyncio and no JSON here.

Lines are split on bytes (CR and LF are never part of a multibyte UTF-8 character), and each
line or data value is decoded as UTF-8 with replacement, which gives the same text as decoding
the whole stream first.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._exceptions import SSEProtocolError


__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent"]

#: Default cap, in bytes, on one event (and on one line while it is being received).
DEFAULT_MAX_EVENT_SIZE = 32 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


@attrs.frozen(slots=True)
class ServerSentEvent:
    """
    One dispatched Server-Sent Event.

    Attributes:
        event: The event type; ``"message"`` when the stream gave none.
        data: The data lines of the event joined with ``"\\n"``.
        id: The last event ID at dispatch time (it persists across events), or None if the
            stream has not set one.
        retry: The reconnection time in milliseconds from this event's own block, or None.
    """

    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """
    Incremental, spec-conformant Server-Sent Events decoder.

    Feed it byte chunks as they arrive, however they are split; it returns the events that
    became complete. At the end of the stream call `flush`.

    Args:
        max_event_size: The largest event (the sum of its data lines) or unterminated line
            accepted, in bytes. A larger one raises `~flowise_async.SSEProtocolError` instead
            of growing memory without bound.

    Example:
        >>> d = SSEDecoder()
        >>> d.feed(b'message:\\ndata:{"event":"token","data":"Hi"}\\n\\n')[0].data
        '{"event":"token","data":"Hi"}'
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event_type",
        "_pending",
        "_pending_cr",
        "_pending_size",
        "_raw",
        "_retry",
        "_started",
        "last_event_id",
        "max_event_size",
    )

    last_event_id: str | None
    """The last valid ``id`` field seen (the last-event-ID buffer), or None."""

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if max_event_size <= 0:
            raise ValueError("max_event_size must be positive")
        self.max_event_size = max_event_size
        self.last_event_id = None
        self._started = False  # past the (possible) BOM at the start of the stream
        self._pending: list[bytes] = []  # pieces of an unterminated line
        self._pending_size = 0
        self._pending_cr = False  # last chunk ended in CR: a leading LF next is part of it
        self._data: list[bytes] = []
        self._data_size = 0
        self._event_type = ""
        self._retry: int | None = None
        # Internal: emit plain data strings for "message" events (used by the event layer).
        self._raw = False

    def __repr__(self) -> str:
        return (
            f"<SSEDecoder max_event_size={self.max_event_size} "
            f"last_event_id={self.last_event_id!r}>"
        )

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """
        Decode a chunk of the stream.

        Returns:
            The events completed by this chunk, in order (often an empty list).

        Raises:
            SSEProtocolError: An event or a line exceeds *max_event_size*.
        """
        if not data:
            return []
        if not self._started:
            data = self._strip_bom(data)
            if not data:
                return []
        return self._feed(data if type(data) is bytes else bytes(data))

    def flush(self) -> list[ServerSentEvent]:
        """
        Signal the end of the stream.

        Per the spec an event that was not terminated by a blank line is discarded, and so
        is an unterminated line; nothing is owed, so this returns an empty list. The decoder
        can then be fed a new stream; `last_event_id` is kept, as a reconnecting client would.
        """
        self._started = False
        self._pending = []
        self._pending_size = 0
        self._pending_cr = False
        self._data = []
        self._data_size = 0
        self._event_type = ""
        self._retry = None
        return []

    def _strip_bom(self, data: bytes) -> bytes:
        # One BOM at the very start, possibly split over the first chunks.
        seen = b"".join(self._pending) + data
        if len(seen) < len(_BOM) and _BOM.startswith(seen):
            self._pending = [seen]  # wait for more bytes
            self._pending_size = len(seen)
            return b""
        self._started = True
        self._pending = []
        self._pending_size = 0
        return seen[len(_BOM) :] if seen.startswith(_BOM) else seen

    def _too_long(self) -> SSEProtocolError:
        return SSEProtocolError(
            f"line longer than max_event_size ({self.max_event_size} bytes) without a line "
            "break: the server sent no line end, or the cap is too small for its events"
        )

    def _feed(self, data: bytes) -> list[Any]:
        if self._pending_cr:
            self._pending_cr = False
            if data[0] == 10:  # LF of a CRLF split between chunks
                data = data[1:]
                if not data:
                    return []
        # Normalise CRLF and CR to LF, so that LF is the only line end.
        if 13 in data:  # CR (int membership is the fast bytes test)
            if data[-1] == 13:
                self._pending_cr = True
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending = self._pending
        if 10 not in data:  # no LF
            # No line end: the chunk only extends the unterminated line.
            pending.append(data)
            self._pending_size += len(data)
            if self._pending_size > self.max_event_size:
                raise self._too_long()
            return []
        if pending:
            pending.append(data)
            data = b"".join(pending)
            self._pending = []
            self._pending_size = 0
        # Blocks end with a blank line. Each complete block is one event; the last element is
        # the rest (complete lines of an unfinished block, then an unterminated line).
        blocks = data.split(b"\n\n")
        tail = blocks.pop()
        out: list[Any] = []
        if blocks:
            self._process_blocks(blocks, out)
        lines = tail.split(b"\n")
        rest = lines.pop()
        if rest:
            if len(rest) > self.max_event_size:
                raise self._too_long()
            self._pending = [rest]
            self._pending_size = len(rest)
        if lines:
            self._process_lines(lines, out)
        return out

    def _process_blocks(self, blocks: list[bytes], out: list[Any]) -> None:
        max_size = self.max_event_size
        raw = self._raw
        append = out.append
        for block in blocks:
            # Fast path for the common shape, when no event is half-built: one data line,
            # optionally after Flowise's "message:" line. Anything else takes the full path.
            if not self._data and not self._event_type and self._retry is None:
                if block.startswith(b"message:\ndata:"):
                    data = block[14:]
                elif block.startswith(b"data:"):
                    data = block[5:]
                else:
                    data = None
                if data is not None and 10 not in data:
                    if data[:1] == b" ":
                        data = data[1:]
                    if len(data) > max_size:
                        raise SSEProtocolError(
                            f"event larger than max_event_size ({max_size} bytes)"
                        )
                    try:
                        text = data.decode()
                    except UnicodeDecodeError:
                        text = data.decode("utf-8", "replace")
                    append(text if raw else ServerSentEvent(text, "message", self.last_event_id))
                    continue
            lines = block.split(b"\n")
            lines.append(b"")
            self._process_lines(lines, out)

    def _process_lines(self, lines: list[bytes], events: list[Any]) -> None:
        data = self._data
        append = data.append
        max_size = self.max_event_size
        size = self._data_size
        raw = self._raw
        for line in lines:
            if not line:
                # Dispatch.
                if data:
                    event_type = self._event_type or "message"
                    text = b"\n".join(data).decode("utf-8", "replace")
                    if raw and event_type == "message" and self._retry is None:
                        events.append(text)
                    else:
                        events.append(
                            ServerSentEvent(text, event_type, self.last_event_id, self._retry)
                        )
                    data.clear()
                    size = 0
                self._event_type = ""
                self._retry = None
                continue
            if line.startswith(b"data:"):
                value = line[6:] if line[5:6] == b" " else line[5:]
                size += len(value) + 1
                if size > max_size:
                    self._data_size = size
                    raise SSEProtocolError(f"event larger than max_event_size ({max_size} bytes)")
                append(value)
                continue
            colon = line.find(b":")
            if colon == 0:
                continue  # comment
            if colon < 0:
                name, value = line, b""
            else:
                name = line[:colon]
                start = colon + 2 if line[colon + 1 : colon + 2] == b" " else colon + 1
                value = line[start:]
            if name == b"data":
                size += len(value) + 1
                if size > max_size:
                    self._data_size = size
                    raise SSEProtocolError(f"event larger than max_event_size ({max_size} bytes)")
                append(value)
            elif name == b"event":
                self._event_type = value.decode("utf-8", "replace")
            elif name == b"id":
                if 0 not in value:  # no NUL
                    self.last_event_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value and value.isdigit():
                self._retry = int(value)
            # Any other field (Flowise's "message") is ignored.
        self._data_size = size
