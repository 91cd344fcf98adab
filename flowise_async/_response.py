"""
An open response: its body read chunk by chunk on demand (backpressure), the idle watchdog,
the pool accounting of its connection, and the decoding of a whole body.

No request is sent here: `~flowise_async._transport.Transport` sends and hands each answer
over as a `RawResponse`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiohttp
import attrs

from ._exceptions import APITimeoutError, IncompleteStreamError, UnexpectedContentError
from ._status import JSON_TYPES


if TYPE_CHECKING:
    from ._transport import Transport

__all__ = [
    "RawResponse",
    "ResponseMeta",
    "decode_body",
    "record_responses",
    "recorded",
    "unexpected_content",
]


_DROP_HINT = (
    "retry the run (a new chat_id, or abort the old one first); if it happens at a fixed "
    "duration, a proxy in between is cutting long responses (raise its read timeout)"
)


@attrs.frozen(kw_only=True)
class ResponseMeta:
    """What is known of a response once its headers arrived."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    elapsed: float
    """Seconds from sending (this attempt) to the response headers."""
    attempt: int
    """Which attempt this response answers (1 for the first)."""
    method: str = ""
    url: str = ""
    """The request URL, safe to show (no credentials, no key)."""
    request_headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """The request headers as sent, with credentials replaced by ``***``."""


_responses: contextvars.ContextVar[list[ResponseMeta] | None] = contextvars.ContextVar(
    "flowise_async_responses", default=None
)


def recorded() -> list[ResponseMeta] | None:
    """The list `record_responses` appends to in this task, None outside such a block."""
    return _responses.get()


@contextlib.contextmanager
def record_responses() -> Iterator[list[ResponseMeta]]:
    """Within this block, the `ResponseMeta` of every successful response is appended to the
    list it gives (per task: concurrent calls elsewhere are not mixed in)."""
    found: list[ResponseMeta] = []
    token = _responses.set(found)
    try:
        yield found
    finally:
        _responses.reset(token)


class _Content(Protocol):
    async def readany(self) -> bytes: ...


class _Wire(Protocol):
    """The part of a response the transport uses (an aiohttp response, or a mock's)."""

    @property
    def status(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def url(self) -> Any: ...
    @property
    def content(self) -> _Content: ...
    def release(self) -> Any: ...
    def close(self) -> None: ...


class RawResponse:
    """
    An open response whose body is read chunk by chunk, on demand (backpressure).

    Only `read` touches the socket; aiohttp pauses reading from the socket when its buffer is
    full, so a slow consumer stops the server instead of growing memory here. The idle timeout
    runs only while `read` waits, so a slow consumer never trips it.
    """

    __slots__ = (
        "_closed",
        "_dropped",
        "_eof",
        "_idle",
        "_idle_fired",
        "_readany",
        "_reader",
        "_resp",
        "_secrets",
        "_slot",
        "_transport",
        "_wait_start",
        "_watchdog",
        "content_type",
        "meta",
        "method",
        "status",
        "url",
    )

    def __init__(
        self,
        transport: Transport,
        resp: _Wire,
        method: str,
        idle: float | None = None,
        *,
        meta: ResponseMeta | None = None,
        slot: bool = False,
    ) -> None:
        self._transport = transport
        self._slot = slot
        self._resp = resp
        self._readany = resp.content.readany
        self._idle = idle
        self._eof = False
        self._closed = False
        self._dropped: IncompleteStreamError | None = None  # raised after the salvaged bytes
        # Idle watchdog: one timer per response, re-armed lazily, instead of a timeout
        # context per read (which costs more than decoding a token event).
        self._wait_start: float | None = None  # loop time at which read() began waiting
        self._watchdog: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[Any] | None = None
        self._idle_fired = False
        self._secrets: tuple[str, ...] = ()
        self.status = resp.status
        self.content_type = resp.content_type
        self.method = method
        self.url = transport.display_url(resp.url)
        self.meta = meta or ResponseMeta(
            status=resp.status, headers=resp.headers, elapsed=0, attempt=1
        )
        transport._opened += 1  # pool accounting: -1 in close()

    def __repr__(self) -> str:
        return f"<RawResponse {self.method} {self.url} [{self.status}]>"

    def redact(self, text: str) -> str:
        """Remove the API key from a text taken from this response (a server may echo it)."""
        return self._transport.redact(text, self._secrets)

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has been read."""
        return self._eof

    async def read(self) -> bytes:
        """
        Return the next chunk of the body as it arrives, or ``b""`` at the end.

        Raises:
            APITimeoutError: Nothing arrived within the idle timeout.
            IncompleteStreamError: The connection dropped before the body was complete.
        """
        if self._eof or self._closed:
            return b""
        if self._dropped is not None:
            dropped, self._dropped = self._dropped, None
            raise dropped
        try:
            if self._idle is None:
                chunk = await self._readany()
            else:
                chunk = await self._read_watched(self._idle)
        except TimeoutError:
            raise APITimeoutError(
                f"no data from the server for {self._idle} s while reading the response to "
                f"{self.method} {self.url} (idle timeout): raise Timeouts(idle=...) if the flow "
                "pauses longer; Flowise 3.1.2+ sends a heartbeat every 30 s, older releases none",
                phase="idle",
                method=self.method,
                url=self.url,
            ) from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as exc:
            error = IncompleteStreamError(
                f"the connection dropped while reading the response to {self.method} "
                f"{self.url} ({type(exc).__name__}: {self.redact(str(exc))}): "
                f"{_DROP_HINT}"
            )
            error.__cause__ = exc
            rest = _received_before_drop(self._resp.content)
            if not rest:
                raise error from exc
            # The bytes that arrived before the drop come first; the drop on the next read.
            self._dropped = error
            return rest
        if not chunk:
            self._eof = True
        return chunk

    async def _read_watched(self, idle: float) -> bytes:
        loop = asyncio.get_running_loop()
        self._wait_start = now = loop.time()
        self._reader = asyncio.current_task()
        if self._watchdog is None:
            self._watchdog = loop.call_at(now + idle, self._check_idle, idle)
        try:
            return await self._readany()
        except asyncio.CancelledError:
            if self._idle_fired:
                self._idle_fired = False
                task = self._reader
                if task is not None and task.uncancel() == 0:
                    raise TimeoutError from None  # ours alone: an idle timeout
            raise
        finally:
            self._wait_start = None

    def _check_idle(self, idle: float) -> None:
        """The watchdog: cancel a read that has waited *idle* seconds, else re-arm."""
        self._watchdog = None
        if self._closed or self._eof:
            return
        loop = asyncio.get_running_loop()
        start = self._wait_start
        now = loop.time()
        if start is None:  # not reading now (the consumer is busy): check again later
            self._watchdog = loop.call_at(now + idle, self._check_idle, idle)
        elif now - start >= idle:
            task = self._reader
            if task is not None and not task.done():
                self._idle_fired = True
                task.cancel()
        else:
            self._watchdog = loop.call_at(start + idle, self._check_idle, idle)

    async def read_all(self, limit: int) -> bytes:
        """Read the rest of the body; more than *limit* bytes is a `StreamError`."""
        parts: list[bytes] = []
        size = 0
        while chunk := await self.read():
            size += len(chunk)
            if size > limit:
                from ._exceptions import SSEProtocolError  # noqa: PLC0415

                raise SSEProtocolError(f"response body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def close(self, *, reuse: bool) -> None:
        """
        Give the connection back: to the pool if the body was read to its end and *reuse* is
        true, else discard it (a half-read connection is never reused). Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        self._transport._opened -= 1
        if self._slot:
            self._transport._release_slot()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if reuse and self._eof:
            self._resp.release()
        else:
            self._resp.close()


def decode_body(raw: RawResponse, body: bytes, expect: Literal["json", "text", "any"]) -> Any:
    """Decode a successful body per *expect*; see `Transport.request`."""
    if not body:
        return None
    is_json = raw.content_type in JSON_TYPES or raw.content_type.endswith("+json")
    if expect == "text":
        return body.decode("utf-8", "replace")
    if is_json:
        reason = ""
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            reason = str(exc)
        # Raised outside the except block: the decoder's error holds the whole body (.doc),
        # which may echo the API key, and would stay reachable as __context__.
        raise UnexpectedContentError(
            f"{raw.status} from {raw.method} {raw.url}: the body is not valid JSON "
            f"({raw.redact(reason)}): is a proxy answering instead of the server?",
            status=raw.status,
            method=raw.method,
            url=raw.url,
            body=_snippet(body, raw.redact),
        )
    if expect == "any":
        return body.decode("utf-8", "replace")
    raise unexpected_content(raw, body)


def unexpected_content(raw: RawResponse, body: bytes) -> UnexpectedContentError:
    """The error for a success status whose body is neither JSON nor an event stream."""
    hint = (
        "Flowise answers unknown routes and wrong methods with its web page: check the base "
        "URL (it must be the server root, without /api/v1) and the server version"
        if raw.content_type == "text/html"
        else "is a proxy in front of the server answering instead?"
    )
    return UnexpectedContentError(
        f"{raw.status} from {raw.method} {raw.url} with Content-Type "
        f"{raw.content_type!r}, expected JSON or an event stream: {hint}",
        status=raw.status,
        method=raw.method,
        url=raw.url,
        body=_snippet(body, raw.redact),
    )


def _snippet(body: bytes, redact: Callable[[str], str]) -> str:
    """The start of a body to show, redacted before it is cut (no secret cut in half)."""
    text = redact(body[:2000].decode("utf-8", "replace"))
    return text[:500] + ("..." if len(body) > 500 else "")


def _received_before_drop(content: Any) -> bytes:
    """
    What aiohttp had received when the connection dropped: its readers raise the drop before
    handing out the bytes they buffered, which would lose the events just before the cut.
    """
    if not getattr(content, "_buffer", None):
        return b""
    try:
        return bytes(content._read_nowait(-1))
    except (AttributeError, TypeError, ValueError, RuntimeError):
        return b""  # an aiohttp without this buffer: the drop is raised as it is
