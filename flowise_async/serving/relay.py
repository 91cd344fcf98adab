"""
The relay front: prediction streams served from FastAPI as typed SSE frames.

Its guide is the docstring of `flowise_async.fastapi`, the import path users keep;
this module holds the code, on the foundation of `flowise_async.serving`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from .. import events as ev
from .._client import AsyncFlowise
from .._event_table import encode_event
from .._exceptions import ClientStateError, FlowiseError
from .._stream import EventStream
from ._asgi import JSONResponse, Receive, Request, Scope, Send
from .access import Access
from .errors import (
    ErrorMessageHook,
    SafeError,
    describe_error,
    describe_event_error,
    in_band_error,
)
from .log import record_failure
from .output import RELAY_HEARTBEAT, STREAM_HEADERS, named_frame, relay_error_frames
from .streaming import DisconnectAwareResponse, guarded_events


__all__ = ["SSEResponse", "flowise_lifespan", "get_flowise", "sse_frames", "sse_response"]

SSE_HEADERS = dict(STREAM_HEADERS)  # the former names of the one header set and heartbeat
HEARTBEAT_FRAME = RELAY_HEARTBEAT
encode_sse = named_frame
_ATTRIBUTE_KEY = "flowise_async_client_attribute"  # where flowise_lifespan notes its name


class _Caller:
    """Who a relayed stream answers (filled in when the response starts), for the log."""

    __slots__ = ("flow", "request", "started")

    def __init__(self, flow: str | None) -> None:
        self.flow = flow
        self.request: Request | None = None
        self.started = time.monotonic()

    def failed(self, error: SafeError, exc: BaseException) -> None:
        record_failure(
            "relay",
            request=self.request,
            flow=self.flow,
            error=error,
            exc=exc,
            started=self.started,
        )


def sse_frames(
    stream: EventStream,
    *,
    events: Collection[str] | None = None,
    first_event_timeout: float | None = 30.0,
    heartbeat: float | None = 15.0,
    error_message: ErrorMessageHook | None = None,
) -> AsyncIterator[bytes]:
    """
    Open *stream* and yield its events as SSE frames (bytes), for any ASGI framework.

    The stream is opened when the first frame is asked for and closed when the generator ends,
    is closed (``aclose()``) or is cancelled. Errors (before or during the stream) become an
    ``error`` frame and an ``end`` frame instead of an exception; so does Flowise's in-band
    ``error`` event of a stream opened with ``raise_on_error=False`` (its text never goes out).

    Args:
        stream: An unopened stream from ``client.predictions.stream(...)``.
        events: The Flowise event names to forward (e.g. ``{"token", "metadata"}``);
            ``end`` and ``error`` are always sent. ``None`` forwards everything.
        first_event_timeout: Seconds the first event may take before a ``timeout`` error
            frame ends the answer (heartbeats do not count); None waits as long as the
            client's own timeouts allow.
        heartbeat: Write a ``: ping`` comment after this many quiet seconds; None: never.
        error_message: ``hook(error, exc)`` returns the message of an error frame, or None
            for the default (see `flowise_async.serving.describe_error`).
    """
    return _frames(
        stream,
        events=events,
        first_event_timeout=first_event_timeout,
        heartbeat=heartbeat,
        error_message=error_message,
        caller=_Caller(getattr(stream, "chatflow_id", None)),
    )


async def _frames(
    stream: EventStream,
    *,
    events: Collection[str] | None,
    first_event_timeout: float | None,
    heartbeat: float | None,
    error_message: ErrorMessageHook | None,
    caller: _Caller,
) -> AsyncIterator[bytes]:
    wanted = None if events is None else {*events, "end", "error"}
    try:
        async for event in guarded_events(
            stream, first_event_timeout=first_event_timeout, heartbeat=heartbeat
        ):
            if event is None:
                yield RELAY_HEARTBEAT
            elif isinstance(event, ev.ErrorEvent):
                # Flowise's in-band error (a stream opened with raise_on_error=False): its
                # text may hold internals; the browser gets the safe error instead.
                error = describe_event_error(event, error_message)
                caller.failed(error, in_band_error(event))
                yield named_frame("error", error.payload())
            else:
                name, payload = encode_event(event)
                if wanted is None or name in wanted:
                    yield named_frame(name, payload)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a safe frame
        error = describe_error(exc, error_message)
        caller.failed(error, exc)
        yield relay_error_frames(error)


class SSEResponse(DisconnectAwareResponse):
    """
    A ``StreamingResponse`` of SSE frames that watches for the client's disconnect itself and
    closes the frame generator (and so the upstream stream) as soon as it happens, on any ASGI
    server and ASGI spec version.

    With *access*, the checks run before anything is sent: a refusal is answered with its
    status (``403``, ``404``, ``429`` with ``Retry-After`` ...) and a JSON body
    ``{"type": "rejected", "message": ...}``, and the stream is never opened.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        access: Access | None = None,
        chatflow_id: str | None = None,
        error_message: ErrorMessageHook | None = None,
    ) -> None:
        super().__init__(
            frames, status_code=status_code, headers={**STREAM_HEADERS, **(headers or {})}
        )
        self.access = access
        self.chatflow_id = chatflow_id
        self.error_message = error_message
        self._caller: _Caller | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        caller = self._caller or _Caller(self.chatflow_id)
        caller.request = request
        if self.access is not None:
            try:
                await self.access.check(request, self.chatflow_id)
            except (FlowiseError, TimeoutError) as exc:
                error = describe_error(exc, self.error_message)
                caller.failed(error, exc)
                aclose = getattr(self._body_iterator, "aclose", None)
                if aclose is not None:
                    await aclose()  # the stream was never opened
                refusal = JSONResponse(
                    error.payload(), status_code=error.status, headers=error.headers()
                )
                await refusal(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def sse_response(
    stream: EventStream,
    *,
    events: Collection[str] | None = None,
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
    first_event_timeout: float | None = 30.0,
    heartbeat: float | None = 15.0,
    error_message: ErrorMessageHook | None = None,
    access: Access | None = None,
) -> SSEResponse:
    """
    Turn a prediction stream into a streaming response of standard SSE for browsers.

    Args:
        stream: An unopened stream from ``client.predictions.stream(...)``; pass
            ``abort_on_exit=True`` there (or to the client) to abort the run on the server
            when the browser disconnects.
        events: The Flowise event names to forward; ``end`` and ``error`` are always sent.
        headers: Extra response headers.
        status_code: The response status.
        first_event_timeout: Seconds the first event may take (see `sse_frames`).
        heartbeat: Seconds of quiet before a ``: ping`` comment (see `sse_frames`).
        error_message: The application's error messages (see `sse_frames`).
        access: Checks run before the stream opens (`flowise_async.serving.Access`: the
            application's authorization, a chatflow allow-list, a rate limit); a refusal is
            answered with its status and never reaches Flowise.

    Example::

        @app.get("/chat")
        async def chat(question: str, flowise: AsyncFlowise = Depends(get_flowise)):
            return sse_response(flowise.predictions.stream(CHATFLOW_ID, question))
    """
    caller = _Caller(stream.chatflow_id)
    frames = _frames(
        stream,
        events=events,
        first_event_timeout=first_event_timeout,
        heartbeat=heartbeat,
        error_message=error_message,
        caller=caller,
    )
    response = SSEResponse(
        frames,
        status_code=status_code,
        headers=headers,
        access=access,
        chatflow_id=stream.chatflow_id,
        error_message=error_message,
    )
    response._caller = caller
    return response


def flowise_lifespan(
    factory: Callable[[], AsyncFlowise] | None = None, *, attribute: str = "flowise"
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """
    A lifespan that owns one `~flowise_async.AsyncFlowise` for the app's life, stored on
    ``app.state``.

    Args:
        factory: Builds the client at start-up; defaults to ``AsyncFlowise()`` (configured
            from ``FLOWISE_BASE_URL`` and ``FLOWISE_API_KEY``).
        attribute: The name on ``app.state``.

    Example::

        app = FastAPI(lifespan=flowise_lifespan(lambda: AsyncFlowise(BASE_URL, api_key=KEY)))
    """

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        client = factory() if factory is not None else AsyncFlowise()
        async with client:
            setattr(app.state, attribute, client)
            setattr(app.state, _ATTRIBUTE_KEY, attribute)
            try:
                yield
            finally:
                delattr(app.state, attribute)
                delattr(app.state, _ATTRIBUTE_KEY)

    return lifespan


def get_flowise(request: Request) -> AsyncFlowise:
    """
    A dependency that returns the app's client (``Depends(get_flowise)``).

    It finds the client under the attribute name given to `flowise_lifespan`.

    Raises:
        ClientStateError: The app has no client: use `flowise_lifespan` (a `RuntimeError`
            too).
    """
    state = request.app.state
    attribute = getattr(state, _ATTRIBUTE_KEY, "flowise")
    client: AsyncFlowise | None = getattr(state, attribute, None)
    if client is None:
        raise ClientStateError(
            "no AsyncFlowise on app.state: create the app with flowise_lifespan()"
        )
    return client
