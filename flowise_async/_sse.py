"""
A pure, incremental decoder for Server-Sent Events.

It follows the WHATWG HTML "Interpreting an event stream" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
bytes go in, `ServerSentEvent` values come out; there is no I/O, no asyncio and no JSON here.

Lines are split on bytes (CR and LF are never part of a multibyte UTF-8 character), and each
line or data value is decoded as UTF-8 with replacement, which gives the same text as decoding
the whole stream first.

Size caps hold per line and per event, whatever the chunking: a line (its field name
included, its line end excluded) may have at most ``max_event_size + LINE_ALLOWANCE`` bytes,
and an event's data (its lines joined with LF) at most ``max_event_size`` bytes. The lines are
checked in stream order, so the same bytes give the same events and the same error for every
way of cutting them into chunks; the events completed before the offending line are returned
first and the error is raised by the next call.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from ._exceptions import SSEProtocolError


__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "LINE_ALLOWANCE",
    "MessageDecoder",
    "SSEDecoder",
    "ServerSentEvent",
]

#: Default cap, in bytes, on one event's data.
DEFAULT_MAX_EVENT_SIZE = 32 * 1024 * 1024
#: Bytes a line may have beyond *max_event_size*: room for a field name such as ``data: ``.
LINE_ALLOWANCE = 16

_BOM = b"\xef\xbb\xbf"


@attrs.frozen(slots=True)
class ServerSentEvent:
    """
    One dispatched Server-Sent Event.

    Attributes:
        event: The event type; ``"message"`` when the stream gave none.
        data: The data lines of the event joined with ``"\\n"``.
        id: The stream's last event ID once this event was dispatched (an ``id`` persists
            across events), or None if the stream has not set one.
        retry: The reconnection time in milliseconds from this event's own block, or None.
    """

    data: str = ""
    event: str = "message"
    id: str | None = None
    retry: int | None = None


def _event_too_large(max_size: int) -> SSEProtocolError:
    return SSEProtocolError(f"event larger than max_event_size ({max_size} bytes)")


def _line_too_long(max_size: int) -> SSEProtocolError:
    return SSEProtocolError(
        f"line longer than max_event_size ({max_size} bytes, plus {LINE_ALLOWANCE} for the "
        "field name) without a line break: the server sent no line end, or the cap is too "
        "small for its events"
    )


class _Parser:
    """The decoding state machine shared by `SSEDecoder` and `MessageDecoder`."""

    __slots__ = (
        "_data",
        "_data_size",
        "_error",
        "_event_type",
        "_id_buffer",
        "_line_max",
        "_pending",
        "_pending_cr",
        "_pending_size",
        "_retry",
        "_started",
        "last_event_id",
        "max_event_size",
    )

    #: Emit the data string alone for an event of type ``message`` without ``retry``.
    _RAW: ClassVar[bool] = False

    last_event_id: str | None
    """
    The stream's last event ID: the value of the last ``id`` field of a block that was
    dispatched (ended by its blank line), or None. A reconnecting client sends it as
    ``Last-Event-ID``. An ``id`` in a block that the stream never ended is not committed.
    """

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        if type(max_event_size) is not int or max_event_size <= 0:
            raise ValueError("max_event_size must be a positive integer")
        self.max_event_size = max_event_size
        self._line_max = max_event_size + LINE_ALLOWANCE
        self.last_event_id = None
        self._id_buffer: str | None = None  # the last-event-ID buffer of the spec
        self._error: SSEProtocolError | None = None  # raised by the next call
        self._started = False  # past the (possible) BOM at the start of the stream
        self._pending: list[bytes] = []  # pieces of an unterminated line
        self._pending_size = 0
        self._pending_cr = False  # last chunk ended in CR: a leading LF next is part of it
        self._data: list[bytes] = []
        self._data_size = 0  # bytes of the data lines so far, one LF after each
        self._event_type = ""
        self._retry: int | None = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} max_event_size={self.max_event_size} "
            f"last_event_id={self.last_event_id!r}>"
        )

    def _flush_any(self) -> list[Any]:
        error, self._error = self._error, None
        self._started = False
        self._pending = []
        self._pending_size = 0
        self._pending_cr = False
        self._data = []
        self._data_size = 0
        self._event_type = ""
        self._retry = None
        self._id_buffer = self.last_event_id  # an uncommitted id is dropped with its block
        if error is not None:
            raise error
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

    def _feed(self, data: bytes) -> list[Any]:
        """Decode a chunk: the events it completes; an error after them waits for the next call."""
        if self._error is not None:
            raise self._error
        if not data:
            return []
        if not self._started:
            data = self._strip_bom(data)
            if not data:
                return []
        if type(data) is not bytes:
            data = bytes(data)
        out: list[Any] = []
        try:
            if self._pending_cr:
                self._pending_cr = False
                if data[0] == 10:  # LF of a CRLF split between chunks
                    data = data[1:]
                    if not data:
                        return out
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
                if self._pending_size > self._line_max:
                    raise _line_too_long(self.max_event_size)
                return out
            if pending:
                # The pending pieces hold no LF, so the line they start ends at this chunk's
                # first LF: complete that line alone, so that a long line (a large document)
                # is never searched again for a blank line (a two-byte search, much slower
                # than the one-byte search that found this LF).
                cut = data.find(b"\n")
                pending.append(data[:cut])
                line = b"".join(pending)
                self._pending = []
                self._pending_size = 0
                data = data[cut + 1 :]
                self._process_lines([line], out)
                if not data:
                    return out
            # Blocks end with a blank line. Each complete block is one event; the last element is
            # the rest (complete lines of an unfinished block, then an unterminated line).
            blocks = data.split(b"\n\n")
            tail = blocks.pop()
            if blocks:
                self._process_blocks(blocks, out)
            lines = tail.split(b"\n")
            rest = lines.pop()
            if lines:
                self._process_lines(lines, out)
            if rest:
                self._pending = [rest]
                self._pending_size = len(rest)
                if len(rest) > self._line_max:
                    raise _line_too_long(self.max_event_size)
        except SSEProtocolError as exc:
            self._error = exc
            if not out:
                raise
        return out

    def _process_blocks(self, blocks: list[bytes], out: list[Any]) -> None:
        max_size = self.max_event_size
        raw = self._RAW
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
                        # The line check comes first, as on the line path.
                        if len(block) - block.rfind(b"\n") - 1 > self._line_max:
                            raise _line_too_long(max_size)
                        raise _event_too_large(max_size)
                    try:
                        text = data.decode()
                    except UnicodeDecodeError:
                        text = data.decode("utf-8", "replace")
                    # Dispatch: the block has no id line, so the buffer is the stream's id.
                    last_id = self.last_event_id = self._id_buffer
                    append(text if raw else ServerSentEvent(text, "message", last_id))
                    continue
            lines = block.split(b"\n")
            lines.append(b"")
            self._process_lines(lines, out)

    def _process_lines(self, lines: list[bytes], events: list[Any]) -> None:
        data = self._data
        append = data.append
        max_size = self.max_event_size
        limit = max_size + 1  # the size counts one LF per data line; the last one is dropped
        line_max = self._line_max
        size = self._data_size
        raw = self._RAW
        try:
            for line in lines:
                if not line:
                    # Dispatch: commit the id buffer, then the event if it has data.
                    self.last_event_id = self._id_buffer
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
                if len(line) > line_max:
                    raise _line_too_long(max_size)
                if line.startswith(b"data:"):
                    value = line[6:] if line[5:6] == b" " else line[5:]
                    size += len(value) + 1
                    if size > limit:
                        raise _event_too_large(max_size)
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
                    if size > limit:
                        raise _event_too_large(max_size)
                    append(value)
                elif name == b"event":
                    self._event_type = value.decode("utf-8", "replace")
                elif name == b"id":
                    if 0 not in value:  # no NUL
                        self._id_buffer = value.decode("utf-8", "replace")
                elif name == b"retry" and value and value.isdigit():
                    self._retry = int(value)
                # Any other field (Flowise's "message") is ignored.
        finally:
            self._data_size = size


class SSEDecoder(_Parser):
    """
    Incremental, spec-conformant Server-Sent Events decoder.

    Feed it byte chunks as they arrive, however they are split; it returns the events that
    became complete. At the end of the stream call `flush`.

    Args:
        max_event_size: The largest event data accepted, in bytes (its data lines joined
            with LF); a line may have ``LINE_ALLOWANCE`` (16) more bytes for its field name. A
            larger one raises `~flowise_async.SSEProtocolError` instead of growing memory
            without bound.

    Raises:
        ValueError: *max_event_size* is not a positive integer.

    Example:
        >>> d = SSEDecoder()
        >>> d.feed(b'message:\\ndata:{"event":"token","data":"Hi"}\\n\\n')[0].data
        '{"event":"token","data":"Hi"}'
    """

    __slots__ = ()

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """
        Decode a chunk of the stream.

        Returns:
            The events completed by this chunk, in order (often an empty list).

        Raises:
            SSEProtocolError: A line or an event exceeds the caps. When the chunk completed
                events before the offending line, they are returned and this call's next
                one (`feed` or `flush`) raises.
        """
        return self._feed(data)

    def flush(self) -> list[ServerSentEvent]:
        """
        Signal the end of the stream.

        Per the spec an event that was not terminated by a blank line is discarded, and so
        is an unterminated line and an ``id`` of that unfinished block; nothing is owed, so
        this returns an empty list. The decoder can then be fed a new stream;
        ``last_event_id`` is kept, as a reconnecting client would.

        Raises:
            SSEProtocolError: The error of the last `feed`, not raised yet.
        """
        return self._flush_any()


class MessageDecoder(_Parser):
    """
    `SSEDecoder` for streams whose events are mostly of the default type (as Flowise's are).

    An event of type ``message`` without a ``retry`` comes out as its data string alone,
    any other event as a `ServerSentEvent`; this saves building an object per event.
    """

    __slots__ = ()

    _RAW: ClassVar[bool] = True

    def feed(self, data: bytes) -> list[str | ServerSentEvent]:
        """`SSEDecoder.feed`, with ``message`` events as plain data strings."""
        return self._feed(data)

    def flush(self) -> list[str | ServerSentEvent]:
        """`SSEDecoder.flush`."""
        return self._flush_any()
