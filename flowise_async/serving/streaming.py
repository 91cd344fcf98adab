"""Streams to a caller: the first-event guard with heartbeat ticks; noticing the caller leave."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from typing import TypeVar

from .. import events as ev
from .._stream import EventStream
from ._asgi import Receive, Request, Scope, Send, StreamingResponse
from .errors import FirstEventTimeoutError


T = TypeVar("T")

__all__ = ["CallerLeftError", "DisconnectAwareResponse", "guarded_events", "unless_caller_leaves"]


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
        watcher = asyncio.ensure_future(_disconnected(receive))
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


class CallerLeftError(Exception):
    """The caller went away before its answer started (nobody will read it)."""


async def _disconnected(receive: Receive) -> None:
    """Return when the caller has gone away (the request body was read already)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def unless_caller_leaves(request: Request, work: Awaitable[T]) -> T:
    """
    Run *work* (e.g. collecting a whole answer, or waiting for the first event) and return
    its result; if the caller goes away first, cancel it (so the upstream stream closes and,
    with ``abort_on_exit``, the run is aborted) and raise `CallerLeftError`.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task.cancelled():
        raise CallerLeftError
    return task.result()
