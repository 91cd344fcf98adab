"""
Serve prediction streams from FastAPI (or any Starlette / ASGI app) as standard SSE.

Install with ``pip install "flowise-async[fastapi]"``.

Each typed event becomes one SSE frame named after the Flowise event, with its payload as JSON::

    event: token
    data: "Paris"

The payload is Flowise's own (``encode_event``): a JSON string for ``token``, an object for
``metadata``, a list for ``sourceDocuments``..., and ``"[DONE]"`` for ``end``. A failure is an
``error`` frame whose data is ``{"message": ..., "type": ...}`` followed by ``end``, so a browser
``EventSource`` can always tell a finished answer from a broken one.

When the browser goes away, the response stops reading the upstream stream and closes it at
once (its connection is discarded); with *abort_on_exit* on the stream or the client, the run
is also aborted on the Flowise server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from ._client import AsyncFlowise
from ._convert import encode_event
from ._exceptions import ClientStateError, FlowiseError
from ._stream import EventStream


try:
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.types import Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flowise_async.fastapi needs Starlette (FastAPI brings it): "
        'pip install "flowise-async[fastapi]"'
    ) from exc


__all__ = ["SSEResponse", "flowise_lifespan", "get_flowise", "sse_frames", "sse_response"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def encode_sse(name: str, payload: Any) -> bytes:
    """One SSE frame: ``event: <name>`` and the payload as one line of JSON."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {data}\n\n".encode()


async def sse_frames(
    stream: EventStream,
    *,
    events: Collection[str] | None = None,
) -> AsyncIterator[bytes]:
    """
    Open *stream* and yield its events as SSE frames (bytes), for any ASGI framework.

    The stream is opened when the first frame is asked for and closed when the generator ends,
    is closed (``aclose()``) or is cancelled. Errors (before or during the stream) become an
    ``error`` frame and an ``end`` frame instead of an exception.

    Args:
        stream: An unopened stream from ``client.predictions.stream(...)``.
        events: The Flowise event names to forward (e.g. ``{"token", "metadata"}``);
            ``end`` and ``error`` are always sent. ``None`` forwards everything.
    """
    wanted = None if events is None else {*events, "end", "error"}
    try:
        async with stream:
            async for event in stream:
                name, payload = encode_event(event)
                if wanted is None or name in wanted:
                    yield encode_sse(name, payload)
    except FlowiseError as exc:
        yield encode_sse("error", {"message": exc.message, "type": type(exc).__name__})
        yield encode_sse("end", "[DONE]")


class SSEResponse(StreamingResponse):
    """
    A ``StreamingResponse`` of SSE frames that watches for the client's disconnect itself and
    closes the frame generator (and so the upstream stream) as soon as it happens, on any ASGI
    server and ASGI spec version.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            frames, status_code=status_code, headers={**SSE_HEADERS, **(headers or {})}
        )
        self._frames = frames

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
            aclose = getattr(self._frames, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.background is not None:
            await self.background()


def sse_response(
    stream: EventStream,
    *,
    events: Collection[str] | None = None,
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
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

    Example::

        @app.get("/chat")
        async def chat(question: str, flowise: AsyncFlowise = Depends(get_flowise)):
            return sse_response(flowise.predictions.stream(CHATFLOW_ID, question))
    """
    return SSEResponse(sse_frames(stream, events=events), status_code=status_code, headers=headers)


def flowise_lifespan(
    factory: Callable[[], AsyncFlowise] | None = None, *, attribute: str = "flowise"
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """
    A lifespan that owns one `AsyncFlowise` for the app's life, stored on ``app.state``.

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
            try:
                yield
            finally:
                delattr(app.state, attribute)

    return lifespan


def get_flowise(request: Request) -> AsyncFlowise:
    """
    A dependency that returns the app's client (``Depends(get_flowise)``).

    Raises:
        ClientStateError: The app has no client: use `flowise_lifespan` (a `RuntimeError`
            too).
    """
    client: AsyncFlowise | None = getattr(request.app.state, "flowise", None)
    if client is None:
        raise ClientStateError(
            "no AsyncFlowise on app.state: create the app with flowise_lifespan()"
        )
    return client
