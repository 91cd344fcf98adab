"""
Every timeout phase, through every kind of call: the phase table of docs/reliability.md.

Each cell sets one limit low (the others generous), makes the server misbehave in the way that
limit bounds, and checks the error's phase, the number in its message and the time it took.
The cells that do not apply (``total`` on a stream, ``event`` on a plain call) check that the
setting is ignored, as documented.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from flowise_async import APITimeoutError, AsyncFlowise, Limits, Retries, Timeouts
from flowise_async.testing import FakeFlowise

from .conftest import END, FLOW_ID, Conn, RawServer, Request, frame


Serve = Callable[..., Awaitable[RawServer]]
MakeClient = Callable[..., AsyncFlowise]

LIMIT = 0.4  # the limit under test, in seconds
SLACK = 2.5  # room for a loaded 2-core machine above the limit
GUARD = 20.0  # a call the limit does not bound fails the test instead of hanging it
HOLD = "hold-the-pool"


# -- the calls ----------------------------------------------------------------------------


async def create(client: AsyncFlowise, timeouts: Timeouts) -> Any:
    return await client.predictions.create(FLOW_ID, "hi", timeouts=timeouts)


async def plain(client: AsyncFlowise, timeouts: Timeouts) -> Any:
    return await client.chatflows.list(timeouts=timeouts)


async def request(client: AsyncFlowise, timeouts: Timeouts) -> Any:
    return await client.request("GET", "/api/v1/nodes", timeouts=timeouts)


async def stream(client: AsyncFlowise, timeouts: Timeouts) -> Any:
    async with client.predictions.stream(FLOW_ID, "hi", timeouts=timeouts) as events:
        return [event async for event in events]


PLAIN_CALLS = [
    pytest.param(create, id="create"),
    pytest.param(plain, id="chatflows.list"),
    pytest.param(request, id="request"),
]
ALL_CALLS = [*PLAIN_CALLS, pytest.param(stream, id="stream")]


def streamed(call: Any) -> bool:
    return call is stream


# -- the misbehaving server ---------------------------------------------------------------


async def _hold(conn: Conn) -> bool:
    """The answer to the stream that holds the only pooled connection."""
    await conn.head()
    await conn.wait_peer_closed()
    return False


def _server(behaviour: Callable[[Request, Conn], Awaitable[bool]]) -> Any:
    async def handler(request: Request, conn: Conn) -> bool:
        if HOLD in request.path:
            return await _hold(conn)
        return await behaviour(request, conn)

    return handler


async def _never_answer(request: Request, conn: Conn) -> bool:
    await conn.wait_peer_closed()
    return False


def _is_stream(request: Request) -> bool:
    return b'"streaming": true' in request.body or b'"streaming":true' in request.body


async def _stall_after_a_piece(request: Request, conn: Conn) -> bool:
    """Headers and a first piece of the body, then silence."""
    if _is_stream(request):
        await conn.head()
        await conn.chunk(frame("token", "a"))
    else:
        await conn.head(content_type="application/json", chunked=False, length=100)
        conn.write(b'{"text": "')
        await conn.drain()
    await conn.wait_peer_closed()
    return False


async def _heartbeats_only(request: Request, conn: Conn) -> bool:
    """A stream that sends keep-alive comments and no event (bounded: 10 s at most)."""
    await conn.head()
    await conn.chunk(frame("token", "a"))
    with contextlib.suppress(ConnectionError):
        for _ in range(100):
            if conn.writer.is_closing() or conn.reader.at_eof():
                break
            await asyncio.sleep(0.1)
            await conn.chunk(b":heartbeat\n\n")
    await conn.wait_peer_closed(timeout=2)
    return False


def _answer_of(request: Request) -> bytes:
    if request.path.startswith("/api/v1/prediction/"):
        return b'{"text": "done", "chatId": "c"}'
    return b"[]"


async def _trickle(request: Request, conn: Conn) -> bool:
    """The whole answer, one piece every 0.15 s for about 1.2 s: slow, never silent long."""
    if _is_stream(request):
        await conn.head()
        for i in range(8):
            await asyncio.sleep(0.15)
            await conn.chunk(frame("token", f"t{i}"))
        await conn.chunk(END)
        await conn.end()
        return True
    await conn.head(content_type="application/json")
    answer = _answer_of(request)
    await conn.chunk(answer[:1])
    for _ in range(8):
        await asyncio.sleep(0.15)
        await conn.chunk(b" ")
    await conn.chunk(answer[1:])
    await conn.end()
    return True


# -- helpers ------------------------------------------------------------------------------


class Clock:
    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start


async def guarded(coro: Awaitable[Any]) -> Any:
    """*coro*, failing the test (not hanging it) if no limit of the library stops it."""
    try:
        async with asyncio.timeout(GUARD):
            return await coro
    except TimeoutError as exc:
        if isinstance(exc, APITimeoutError):
            raise
        pytest.fail(f"no timeout of the library fired within {GUARD} s")


def check(error: APITimeoutError, phase: str, limit: float, elapsed: float) -> None:
    assert error.phase == phase, str(error)
    assert f"{limit} s" in str(error), str(error)
    assert limit * 0.8 <= elapsed < limit + SLACK, elapsed


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listen queue is full: a connection attempt waits, never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    filler = socket.socket()
    filler.connect(("127.0.0.1", port))  # fills the queue: the next SYN is dropped
    try:
        yield port
    finally:
        filler.close()
        listener.close()


@contextlib.asynccontextmanager
async def pool_held(client: AsyncFlowise) -> AsyncIterator[None]:
    """Hold the client's only pooled connection with an open stream."""
    async with client.predictions.stream(HOLD, "hold") as held:
        assert held.chat_id
        yield


# -- the phases that apply ----------------------------------------------------------------


@pytest.mark.parametrize("call", ALL_CALLS)
async def test_pool(serve: Serve, make_client: MakeClient, call: Any) -> None:
    """No free pooled connection within Timeouts.pool: phase "pool", nothing sent."""
    server = await serve(_server(_never_answer))
    client = make_client(server.url, limits=Limits(max_connections=1))
    async with pool_held(client):
        with Clock() as clock, pytest.raises(APITimeoutError) as info:
            await guarded(call(client, Timeouts(pool=LIMIT)))
    check(info.value, "pool", LIMIT, clock.elapsed)
    assert not info.value.request_sent
    assert server.count(path="/api/v1/prediction/" + FLOW_ID) == 0
    assert server.count(path="/api/v1/chatflows") + server.count(path="/api/v1/nodes") == 0


@pytest.mark.parametrize("call", ALL_CALLS)
async def test_connect(make_client: MakeClient, call: Any) -> None:
    """A connection not established within Timeouts.connect: phase "connect"."""
    with unaccepting_port() as port:
        client = make_client(f"http://127.0.0.1:{port}")
        with Clock() as clock, pytest.raises(APITimeoutError) as info:
            await guarded(call(client, Timeouts(connect=LIMIT)))
    check(info.value, "connect", LIMIT, clock.elapsed)
    assert not info.value.request_sent


@pytest.mark.parametrize("call", ALL_CALLS)
async def test_headers(serve: Serve, make_client: MakeClient, call: Any) -> None:
    """No response headers within Timeouts.headers: phase "headers"."""
    server = await serve(_server(_never_answer))
    client = make_client(server.url)
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await guarded(call(client, Timeouts(headers=LIMIT)))
    check(info.value, "headers", LIMIT, clock.elapsed)


@pytest.mark.parametrize("call", ALL_CALLS)
async def test_idle(serve: Serve, make_client: MakeClient, call: Any) -> None:
    """Headers and a piece of the body, then silence past Timeouts.idle: phase "idle" (also for
    a plain JSON body, which was once reported as "total" and "None s")."""
    server = await serve(_server(_stall_after_a_piece))
    client = make_client(server.url)
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await guarded(call(client, Timeouts(idle=LIMIT)))
    check(info.value, "idle", LIMIT, clock.elapsed)
    assert "Timeouts(idle=...)" in str(info.value)


@pytest.mark.parametrize("call", PLAIN_CALLS)
async def test_total_of_a_server_that_never_answers(
    serve: Serve, make_client: MakeClient, call: Any
) -> None:
    """Timeouts.total bounds a request whose headers never come, even with no headers limit."""
    server = await serve(_server(_never_answer))
    client = make_client(server.url)
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await guarded(call(client, Timeouts(headers=None, total=LIMIT)))
    check(info.value, "total", LIMIT, clock.elapsed)
    assert not info.value.transient


async def test_event(serve: Serve, make_client: MakeClient) -> None:
    """Only keep-alive comments past Timeouts.event: phase "event" (streams only)."""
    server = await serve(_server(_heartbeats_only))
    client = make_client(server.url)
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await guarded(stream(client, Timeouts(event=LIMIT)))
    check(info.value, "event", LIMIT, clock.elapsed)


# -- the settings that do not apply -------------------------------------------------------


async def test_total_does_not_bound_a_stream(serve: Serve, make_client: MakeClient) -> None:
    """A stream ignores Timeouts.total: a run longer than it completes."""
    server = await serve(_server(_trickle))
    client = make_client(server.url)
    with Clock() as clock:
        events = await guarded(stream(client, Timeouts(total=LIMIT)))
    assert [getattr(e, "text", None) for e in events[:8]] == [f"t{i}" for i in range(8)]
    assert clock.elapsed > LIMIT


@pytest.mark.parametrize("call", PLAIN_CALLS)
async def test_event_does_not_bound_a_plain_call(
    serve: Serve, make_client: MakeClient, call: Any
) -> None:
    """A plain call ignores Timeouts.event: an answer slower than it arrives."""
    server = await serve(_server(_trickle))
    client = make_client(server.url)
    with Clock() as clock:
        result = await guarded(call(client, Timeouts(event=0.1)))
    if call is create:
        assert result.text == "done"
    else:
        assert result == []
    assert clock.elapsed > 0.1 * 8


# -- what Timeouts.total counts -----------------------------------------------------------


@pytest.mark.parametrize("call", PLAIN_CALLS)
async def test_total_counts_from_the_send(serve: Serve, make_client: MakeClient, call: Any) -> None:
    """Headers after 1.2 s, then a slow body: total=1.5 fires at 1.5 s after the send, not
    1.5 s after the headers (once it fired at 2.7 s)."""

    async def late_then_slow(request: Request, conn: Conn) -> bool:
        await asyncio.sleep(1.2)
        await conn.head(content_type="application/json")
        with contextlib.suppress(ConnectionError):
            for _ in range(40):
                await conn.chunk(b" ")
                await asyncio.sleep(0.1)
        await conn.wait_peer_closed(timeout=2)
        return False

    server = await serve(_server(late_then_slow))
    client = make_client(server.url)
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await guarded(call(client, Timeouts(total=1.5)))
    assert info.value.phase == "total"
    assert "1.5 s" in str(info.value)
    assert 1.2 <= clock.elapsed < 2.6


async def test_total_counts_retries_and_their_backoff(
    serve: Serve, make_client: MakeClient
) -> None:
    """503 after 503, retried with backoff: the total budget covers all of it."""

    async def unavailable(request: Request, conn: Conn) -> bool:
        await conn.respond(503, {"message": "busy"})
        return True

    server = await serve(_server(unavailable))
    client = make_client(server.url, retries=Retries(attempts=8, backoff=0.5, max_backoff=4))
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await guarded(client.chatflows.list(timeouts=Timeouts(total=1.0)))
    assert info.value.phase == "total"
    assert "1.0 s" in str(info.value)
    assert 0.8 <= clock.elapsed < 1.0 + SLACK
    assert 1 <= server.count(path="/api/v1/chatflows") < 8


@pytest.mark.parametrize("call", PLAIN_CALLS)
async def test_total_leaves_out_the_wait_for_a_pooled_connection(
    serve: Serve, make_client: MakeClient, call: Any
) -> None:
    """A call that waits 1.5 s for the pool and is then answered at once succeeds under
    total=1.0: the wait for a connection is bounded by Timeouts.pool, not by total."""

    async def quick(request: Request, conn: Conn) -> bool:
        await conn.respond(200, _answer_of(request))
        return True

    server = await serve(_server(quick))
    client = make_client(server.url, limits=Limits(max_connections=1))
    async with pool_held(client):
        task = asyncio.create_task(guarded(call(client, Timeouts(pool=10, total=1.0))))
        await asyncio.sleep(1.5)
        assert not task.done()  # still waiting for the pool
    with Clock() as clock:
        result = await task
    assert result == [] or result.text == "done"
    assert clock.elapsed < 1.0


@pytest.mark.parametrize("where", ["client", "view", "call"])
async def test_total_wherever_it_is_set(serve: Serve, make_client: MakeClient, where: str) -> None:
    """total set on the client, on a with_options view or on the call bounds the same way."""
    server = await serve(_server(_never_answer))
    limit = Timeouts(headers=None, total=LIMIT)
    if where == "client":
        client = make_client(server.url, timeouts=limit)
        call = client.predictions.create(FLOW_ID, "hi")
    elif where == "view":
        client = make_client(server.url)
        call = client.with_options(timeouts=limit).predictions.create(FLOW_ID, "hi")
    else:
        client = make_client(server.url)
        call = client.predictions.create(FLOW_ID, "hi", timeouts=limit)
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await guarded(call)
    check(info.value, "total", LIMIT, clock.elapsed)


async def test_total_bounds_a_hanging_fake_flowise() -> None:
    """The fake server's hang (no answer at all) is bounded by total too."""
    async with FakeFlowise() as server:
        server.answer("hang", hang=True)
        async with server.client() as client:
            with Clock() as clock, pytest.raises(APITimeoutError) as info:
                await guarded(client.predictions.create("hang", "Hi", timeouts=Timeouts(total=0.5)))
    check(info.value, "total", 0.5, clock.elapsed)
