"""
A pure, incremental decoder for Server-Sent Events.

It follows the WHATWG HTML "Interpreting an event stream" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
bytes go in, `ServerSentEvent` values come out; there is no I/O, no asyncio and no JSON here.
"""

from __future__ import annotations

import codecs
from typing import Any

import attrs

from ._exceptions import SSEProtocolError


__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent"]

#: Default cap, in bytes, on one event (and on one line while it is being received).
DEFAULT_MAX_EVENT_SIZE = 32 * 1024 * 1024

_BOM = "\ufeff"


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
            accepted, counted in decoded characters (bytes, for ASCII). A larger one raises
            `~flowise_async.SSEProtocolError` instead of growing memory without bound.

    Example:
        >>> d = SSEDecoder()
        >>> d.feed(b'message:\\ndata:{"event":"token","data":"Hi"}\\n\\n')[0].data
        '{"event":"token","data":"Hi"}'
    """

    __slots__ = (
        "_closed",
        "_data",
        "_data_size",
        "_event_type",
        "_pending",
        "_pending_cr",
        "_pending_size",
        "_raw",
        "_retry",
        "_started",
        "_utf8",
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
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self._started = False  # first text seen (for the BOM)
        self._pending: list[str] = []  # pieces of an unterminated line
        self._pending_size = 0
        self._pending_cr = False  # last chunk ended in CR: a leading LF next is part of it
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._retry: int | None = None
        self._closed = False
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
        if self._closed:
            self._reset()
        text = self._utf8.decode(data)
        if not text:
            return []
        return self._feed_text(text)

    def flush(self) -> list[ServerSentEvent]:
        """
        Signal the end of the stream.

        Per the spec an event that was not terminated by a blank line is discarded, and so
        is an unterminated line. Returns the events still owed (completed by bytes held back
        while a multibyte character or a CR was pending). The decoder can then be fed a new
        stream; `last_event_id` is kept, as a reconnecting client would.
        """
        events: list[Any] = []
        tail = self._utf8.decode(b"", True)
        if tail:
            events = self._feed_text(tail)
        self._reset()
        self._closed = False
        return events

    def _reset(self) -> None:
        self._utf8.reset()
        self._started = False
        self._pending = []
        self._pending_size = 0
        self._pending_cr = False
        self._data = []
        self._data_size = 0
        self._event_type = ""
        self._retry = None

    def _feed_text(self, text: str) -> list[Any]:
        if not self._started:
            self._started = True
            if text[0] == _BOM:
                text = text[1:]
                if not text:
                    return []
        if self._pending_cr:
            self._pending_cr = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        # Normalise CRLF and CR to LF, so that LF is the only line end. (str.splitlines would
        # also break on \v, \f, \x85, \u2028 and others, which SSE does not.)
        if "\r" in text:
            if text[-1] == "\r":
                self._pending_cr = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        pending = self._pending
        if "\n" not in text:
            # No line ends: the text only extends the unterminated line.
            pending.append(text)
            self._pending_size += len(text)
            if self._pending_size > self.max_event_size:
                raise SSEProtocolError(
                    f"line longer than max_event_size ({self.max_event_size} characters) "
                    "without a line break"
                )
            return []
        if pending:
            pending.append(text)
            text = "".join(pending)
            self._pending = []
            self._pending_size = 0
        # Blocks end with a blank line. Each complete block is one event; the last element is
        # the rest (complete lines of an unfinished block, then an unterminated line).
        blocks = text.split("\n\n")
        tail = blocks.pop()
        out: list[Any] = []
        if blocks:
            self._process_blocks(blocks, out)
        lines = tail.split("\n")
        rest = lines.pop()
        if rest:
            if len(rest) > self.max_event_size:
                raise SSEProtocolError(
                    f"line longer than max_event_size ({self.max_event_size} characters) "
                    "without a line break"
                )
            self._pending = [rest]
            self._pending_size = len(rest)
        if lines:
            self._process_lines(lines, out)
        return out

    def _process_blocks(self, blocks: list[str], out: list[Any]) -> None:
        max_size = self.max_event_size
        raw = self._raw
        append = out.append
        for block in blocks:
            # Fast path for the common shape, when no event is half-built: one data line,
            # optionally after Flowise's "message:" line. Anything else takes the full path.
            if not self._data and not self._event_type and self._retry is None:
                if block.startswith("message:\ndata:"):
                    data = block[14:]
                elif block.startswith("data:"):
                    data = block[5:]
                else:
                    data = None
                if data is not None and "\n" not in data:
                    if data[:1] == " ":
                        data = data[1:]
                    if len(data) > max_size:
                        raise SSEProtocolError(
                            f"event larger than max_event_size ({max_size} characters)"
                        )
                    append(data if raw else ServerSentEvent(data, "message", self.last_event_id))
                    continue
            lines = block.split("\n")
            lines.append("")
            self._process_lines(lines, out)

    def _process_lines(self, lines: list[str], events: list[Any]) -> None:
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
                    text = "\n".join(data)
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
            if line[0] == "d" and line.startswith("data:"):
                value = line[6:] if line[5:6] == " " else line[5:]
                size += len(value) + 1
                if size > max_size:
                    self._data_size = size
                    raise SSEProtocolError(
                        f"event larger than max_event_size ({max_size} characters)"
                    )
                append(value)
                continue
            colon = line.find(":")
            if colon == 0:
                continue  # comment
            if colon < 0:
                name, value = line, ""
            else:
                name = line[:colon]
                start = colon + 2 if line[colon + 1 : colon + 2] == " " else colon + 1
                value = line[start:]
            if name == "data":
                size += len(value) + 1
                if size > max_size:
                    self._data_size = size
                    raise SSEProtocolError(
                        f"event larger than max_event_size ({max_size} characters)"
                    )
                append(value)
            elif name == "event":
                self._event_type = value
            elif name == "id":
                if "\x00" not in value:
                    self.last_event_id = value
            elif name == "retry" and value and value.isascii() and value.isdigit():
                self._retry = int(value)
            # Any other field (Flowise's "message") is ignored.
        self._data_size = size
