"""
Serving Flowise to the public: what every server-side front of a Flowise server needs.

Install with ``python -m pip install "./flowise_async[fastapi]"`` next to a clone (it needs
Starlette, which FastAPI brings).

The SSE relay (`flowise_async.fastapi`), the widget proxy (`flowise_async.widget`) and any
other front you build on them share these pieces:

- **The key stays on the server.** The `~flowise_async.AsyncFlowise` of the app holds the
  Flowise API key and address; nothing here ever puts either into a response.
- **Access control.** `Access` checks each request: the application's own authorization hook,
  an allow-list of chatflows, and a rate limit (`TokenBucket`, or your own `RateLimiter`).
  A refusal is a `RequestRejectedError` with the HTTP status to answer.
- **Safe errors.** `describe_error` turns any exception into a `SafeError`: a ``type`` from
  the short list `ERROR_TYPES`, a message a user may read (never a URL, a Python class name or
  the server's internal text), an HTTP status and a ``Retry-After``. An `ErrorMessageHook`
  lets the application write its own message.
- **No silent browser.** `guarded_events` iterates a prediction stream with a
  time-to-first-event guard (`FirstEventTimeoutError`) and yields ``None`` as a heartbeat tick
  while the upstream is quiet, so the front can write a keep-alive comment.
- **Abort on disconnect.** `DisconnectAwareResponse` closes its body iterator as soon as the
  client goes away; a stream created with ``abort_on_exit=True`` then closes the upstream
  connection and asks Flowise to abort the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any, Final, Protocol

import attrs

from . import events as ev
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    FlowiseError,
    IncompleteStreamError,
    ServerEventError,
    StreamError,
)
from ._stream import EventStream


try:
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.types import Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flowise_async.serving needs Starlette (FastAPI brings it). From the folder holding "
        'your clone of flowise_async: python -m pip install "./flowise_async[fastapi]"'
    ) from exc


__all__ = [
    "DEFAULT_MESSAGES",
    "ERROR_TYPES",
    "Access",
    "DisconnectAwareResponse",
    "ErrorMessageHook",
    "FirstEventTimeoutError",
    "RateLimiter",
    "RequestRejectedError",
    "SafeError",
    "TokenBucket",
    "client_address",
    "describe_error",
    "describe_event_error",
    "guarded_events",
]

#: The ``type`` of every error a browser can receive, and what it means.
ERROR_TYPES: Final[Mapping[str, str]] = {
    "unavailable": "Flowise could not be reached or failed (connection refused, 5xx).",
    "timeout": "Flowise took too long: no answer, or no first event, in time.",
    "rejected": "The request was refused: not authorized, not allowed, rate-limited, invalid.",
    "flow_error": "The flow failed while it ran (Flowise's in-band error event).",
    "interrupted": "The answer broke off mid-stream (the connection dropped, bad data).",
}

#: The message a user sees for each type, unless an `ErrorMessageHook` writes another one.
DEFAULT_MESSAGES: Final[Mapping[str, str]] = {
    "unavailable": "The assistant is not available right now. Please try again later.",
    "timeout": "The assistant took too long to answer. Please try again.",
    "rejected": "This request is not allowed.",
    "flow_error": "The assistant could not answer this question.",
    "interrupted": "The answer was interrupted. Please try again.",
}


class RequestRejectedError(FlowiseError):
    """
    The server-side front refused a request (authorization, allow-list, rate limit, a field
    the browser may not send).

    Raise it from an authorization or rate-limit hook to refuse a request.

    Args:
        message: What the user may read (it is sent as the error's message).
        status: The HTTP status to answer: 400, 401, 403, 404, 413 or 429.
        retry_after: Seconds the client should wait (sent as ``Retry-After``), for 429.
    """

    status: int
    retry_after: float | None

    def __init__(self, message: str, *, status: int = 403, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FirstEventTimeoutError(APITimeoutError):
    """No event arrived within the time-to-first-event guard (heartbeats do not count)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"no event within {seconds} s of the request", phase="first_event", method="POST"
        )
        self.seconds = seconds


@attrs.frozen(kw_only=True)
class SafeError:
    """
    What a browser may learn about a failure.

    Attributes:
        type: One of `ERROR_TYPES`.
        message: A message for the user (no URL, no class name, no server internals).
        status: The HTTP status for an answer that has not started yet.
        retry_after: Seconds to wait before trying again, when known.
    """

    type: str
    message: str
    status: int
    retry_after: float | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON object sent to the browser: ``{"type": ..., "message": ...}``."""
        return {"type": self.type, "message": self.message}

    def headers(self) -> dict[str, str]:
        """Response headers for a non-streamed error (``Retry-After`` when known)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


#: ``hook(error, exc)`` returns the message to show for *error* (caused by *exc*), or None to
#: keep the default. *exc* is the original exception: log it, never send its text as is.
ErrorMessageHook = Callable[[SafeError, BaseException], str | None]


def _classify(exc: BaseException) -> tuple[str, int, float | None]:
    if isinstance(exc, RequestRejectedError):
        return "rejected", exc.status, exc.retry_after
    if isinstance(exc, APITimeoutError | TimeoutError):
        return "timeout", 504, None
    if isinstance(exc, APIConnectionError):
        return "unavailable", 502, None
    if isinstance(exc, APIStatusError):
        if exc.status == 429:
            return "rejected", 429, exc.retry_after
        if exc.status == 404:
            return "rejected", 404, None
        if exc.status in {400, 413, 422}:
            return "rejected", exc.status, None
        if exc.status in {401, 403}:
            # The server's own key was refused: a configuration problem, not the user's.
            return "unavailable", 502, None
        if exc.status == 504:
            return "timeout", 504, None
        return "unavailable", 503 if exc.status == 503 else 502, exc.retry_after
    if isinstance(exc, ServerEventError):
        return "flow_error", 502, None
    if isinstance(exc, IncompleteStreamError | StreamError):
        return "interrupted", 502, None
    return "unavailable", 502, None


def describe_error(exc: BaseException, hook: ErrorMessageHook | None = None) -> SafeError:
    """
    Turn *exc* into what a browser may see.

    `RequestRejectedError` keeps its own message (it was written for the user); everything else gets
    the type's `DEFAULT_MESSAGES` entry unless *hook* returns another message.

    Args:
        exc: Any exception (a `~flowise_async.FlowiseError` normally).
        hook: The application's message writer.

    Returns:
        The `SafeError`.
    """
    kind, status, retry_after = _classify(exc)
    message = exc.message if isinstance(exc, RequestRejectedError) else DEFAULT_MESSAGES[kind]
    error = SafeError(type=kind, message=message, status=status, retry_after=retry_after)
    if hook is not None:
        custom = hook(error, exc)
        if custom is not None:
            error = attrs.evolve(error, message=custom)
    return error


def describe_event_error(event: ev.ErrorEvent, hook: ErrorMessageHook | None = None) -> SafeError:
    """
    The one rule for Flowise's in-band ``error`` event on every browser-facing path: its text
    may hold internals (addresses, keys, stack traces), so the browser gets the safe
    ``flow_error`` of `describe_error` instead (the hook sees a
    `~flowise_async.ServerEventError` carrying the server's text).

    Args:
        event: The error event (a stream opened with ``raise_on_error=False`` yields it).
        hook: The application's message writer.

    Returns:
        The `SafeError` to send in place of the event's text.
    """
    failure = ServerEventError(
        "the flow reported an error in the stream", server_message=event.message
    )
    return describe_error(failure, hook)


async def guarded_events(
    stream: EventStream,
    *,
    first_event_timeout: float | None = 30.0,
    heartbeat: float | None = 15.0,
) -> AsyncIterator[ev.Event | None]:
    """
    Open *stream* and yield its events, with ``None`` as a heartbeat tick.

    The stream is opened by the first ``__anext__`` and closed when this generator ends, is
    closed or is cancelled (with the stream's ``abort_on_exit``, the run is then aborted).

    Args:
        stream: An unopened stream from ``client.predictions.stream(...)``.
        first_event_timeout: Seconds the first event may take, counted from the request
            (opening included; heartbeat comments from Flowise do not count). None: no guard.
        heartbeat: Yield ``None`` after this many quiet seconds, and again after each such
            interval, so the caller can write a keep-alive. None: never.

    Raises:
        FirstEventTimeoutError: The guard fired.
        FlowiseError: Opening or reading the stream failed.
    """
    if first_event_timeout is not None and first_event_timeout <= 0:
        raise ValueError("first_event_timeout must be positive or None")
    if heartbeat is not None and heartbeat <= 0:
        raise ValueError("heartbeat must be positive or None")

    async def events() -> AsyncGenerator[ev.Event, None]:
        async with stream:
            async for event in stream:
                yield event

    source = events()
    loop = asyncio.get_running_loop()
    deadline = None if first_event_timeout is None else loop.time() + first_event_timeout
    pending: asyncio.Task[ev.Event] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            waits = [heartbeat] if heartbeat is not None else []
            if deadline is not None:
                waits.append(max(0.0, deadline - loop.time()))
            done, _ = await asyncio.wait({pending}, timeout=min(waits) if waits else None)
            if not done:
                if deadline is not None and loop.time() >= deadline:
                    raise FirstEventTimeoutError(first_event_timeout or 0.0)
                yield None
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                return
            deadline = None
            yield event
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await source.aclose()


# -- access ---------------------------------------------------------------------------------


class RateLimiter(Protocol):
    """Anything that answers "may *key* make a request now?"."""

    async def acquire(self, key: str) -> float | None:
        """Return None to allow the request, or the seconds to wait before the next one."""
        ...


class TokenBucket:
    """
    An in-memory token bucket per key: *burst* requests at once, refilled at *rate* per
    second. One process only; use your own `RateLimiter` (e.g. on Redis) for several.

    Args:
        rate: Requests per second, sustained.
        burst: Requests allowed at once.
        max_keys: Keys remembered; the least recently used are forgotten beyond it.
        clock: A monotonic clock (for tests).
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("TokenBucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, key: str) -> float | None:
        """Take one token for *key*; return None, or the seconds until one is free."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = None
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        while len(self._buckets) > self.max_keys:
            self._buckets.pop(next(iter(self._buckets)))
        return wait


def client_address(request: Request) -> str:
    """The client's address as the ASGI server saw it (behind a proxy, configure the server's
    forwarded-headers support so that this is the real client)."""
    return request.client.host if request.client is not None else "unknown"


#: ``authorize(request)`` returns who is asking (any value; None for anonymous) or raises
#: `RequestRejectedError`. It may be a coroutine function.
AuthorizeHook = Callable[[Request], Any]


@attrs.define(kw_only=True)
class Access:
    """
    The checks run before a request reaches Flowise, in this order: the chatflow allow-list,
    the application's authorization, the rate limit.

    Attributes:
        authorize: ``authorize(request)`` returns who is asking (any value; None for
            anonymous) or raises `RequestRejectedError`; may be async. None allows everyone.
        chatflows: The chatflow ids that may be used; None allows all. An id not in the list
            is answered like an unknown one (404), so ids cannot be probed.
        rate_limit: A `RateLimiter` (e.g. ``TokenBucket(rate=1, burst=5)``); None: no limit.
        rate_limit_key: ``rate_limit_key(request, who)`` names the bucket; the default is
            ``str(who)`` for an authorized caller and the client address otherwise.
    """

    authorize: AuthorizeHook | None = None
    chatflows: Collection[str] | None = None
    rate_limit: RateLimiter | None = None
    rate_limit_key: Callable[[Request, Any], str] | None = None

    async def check(self, request: Request, chatflow_id: str | None = None) -> Any:
        """
        Run the checks for *request* (about *chatflow_id*, if any).

        Returns:
            What ``authorize`` returned (None without a hook).

        Raises:
            RequestRejectedError: A check refused the request.
        """
        if (
            chatflow_id is not None
            and self.chatflows is not None
            and chatflow_id not in self.chatflows
        ):
            raise RequestRejectedError("Not found.", status=404)
        who = None
        if self.authorize is not None:
            who = await _maybe_await(self.authorize(request))
        if self.rate_limit is not None:
            if self.rate_limit_key is not None:
                key = self.rate_limit_key(request, who)
            else:
                key = str(who) if who is not None else client_address(request)
            wait = await self.rate_limit.acquire(key)
            if wait is not None:
                raise RequestRejectedError(
                    "Too many requests. Please wait a moment.", status=429, retry_after=wait
                )
        return who


# -- responses ------------------------------------------------------------------------------


class DisconnectAwareResponse(StreamingResponse):
    """
    A ``StreamingResponse`` that watches for the client's disconnect itself and closes its
    body iterator (and so the upstream stream) as soon as it happens, on any ASGI server and
    ASGI spec version, even while the upstream is silent.
    """

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(body, status_code=status_code, headers=headers, media_type=media_type)
        self._body_iterator = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streamer = asyncio.ensure_future(self.stream_response(send))
        watcher = asyncio.ensure_future(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait({streamer, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if streamer.done() and not streamer.cancelled():
                error = streamer.exception()
                if error is not None and not isinstance(error, OSError):
                    raise error
        finally:
            for task in (streamer, watcher):
                task.cancel()
            await asyncio.gather(streamer, watcher, return_exceptions=True)
            aclose = getattr(self._body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.background is not None:
            await self.background()


async def _maybe_await(value: Awaitable[Any] | Any) -> Any:
    """Await *value* if it is awaitable (for hooks that may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value
