"""
Backpressure, measured: a consumer that pauses keeps the client's buffer under a fixed bound
while the server's unsent data piles up on its side, and the stream completes intact afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from flowise_async import AsyncFlowise, Timeouts
from flowise_async.events import EndEvent, TokenEvent

from .._wait import wait_until
from .conftest import END, FLOW_ID, Conn, RawServer, Request, frame


Serve = Callable[..., Awaitable[RawServer]]
MakeClient = Callable[..., AsyncFlowise]

TOKEN = "x" * 8192
COUNT = 4096  # 32 MiB of events
CLIENT_BOUND = 1024 * 1024  # aiohttp's read buffer: its high water mark plus one socket read


def reading_paused(stream: Any) -> bool:
    """Whether aiohttp has stopped reading the stream's socket (its buffer is full)."""
    return bool(stream._body._resp.content._protocol._reading_paused)


def buffered(stream: Any) -> int:
    """Bytes waiting in the aiohttp StreamReader behind the stream's RawResponse."""
    reader = stream._body._resp.content
    return int(reader._size)


async def test_paused_consumer_holds_back_the_server(serve: Serve, make_client: MakeClient) -> None:
    """
    While the consumer pauses, the client buffers < 1 MiB and > 8 MiB waits on the server; then
    all events arrive. The two sides wait on each other's state, not on the clock: the client
    pauses until the server has measured its queue, the server measures once the client's
    buffer is full and aiohttp has stopped reading the socket.
    """
    queued: list[int] = []
    client_full = threading.Event()
    measured = threading.Event()

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.head()
        for i in range(COUNT):
            data = frame("token", f"{i:05d}{TOKEN}")
            conn.write(b"%x\r\n%s\r\n" % (len(data), data))  # no drain: let it queue
        conn.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(END), END))
        await wait_until(client_full.is_set, timeout=60, what="the client's buffer full")
        queued.append(conn.writer.transport.get_write_buffer_size())
        measured.set()
        await conn.drain()  # blocks until the client reads on
        return True

    server = await serve(handler)
    client = make_client(server.url, timeouts=Timeouts(connect=2, headers=2, idle=60))
    samples = []

    def sample() -> bool:
        samples.append(buffered(stream))
        return reading_paused(stream)

    async with client.predictions.stream(FLOW_ID, "hi") as stream:
        events = [await anext(stream)]
        # The consumer pauses: aiohttp fills its buffer up to the high-water mark, then stops
        # reading the socket.
        await wait_until(sample, timeout=60, interval=0.02, what="aiohttp's reading paused")
        client_full.set()
        await wait_until(
            lambda: sample() and measured.is_set(), timeout=60, what="the server's queue measured"
        )
        low, high = stream._body._resp.content.get_read_buffer_limits()
        events.extend([event async for event in stream])

    assert queued
    assert queued[0] > 8 * 1024 * 1024, queued
    assert max(samples) < CLIENT_BOUND, (samples, low, high)
    assert max(samples) <= high + 256 * 1024  # high water plus at most one socket read
    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    assert len(tokens) == COUNT
    assert all(
        text[:5] == f"{i:05d}" and len(text) == 5 + len(TOKEN) for i, text in enumerate(tokens)
    )
    assert type(events[-1]) is EndEvent
    assert client.pool_stats() == {"acquired": 0, "idle": 1, "limit": client.limits.max_connections}
