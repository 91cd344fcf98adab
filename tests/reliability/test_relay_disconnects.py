"""
Browsers leaving the SSE relay at random points, under a real uvicorn: every disconnect sends
the abort and gives the pooled connection back within a second, whatever the heartbeat
interval, the first request to a freshly started app included.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest


pytest.importorskip("fastapi", reason="needs the fastapi extra")
uvicorn = pytest.importorskip("uvicorn", reason="needs uvicorn (fastapi extra)")

from fastapi import FastAPI, Request  # noqa: E402

from flowise_async import AsyncFlowise, Retries, Timeouts  # noqa: E402
from flowise_async.fastapi import SSEResponse, flowise_lifespan, get_flowise, sse_response  # noqa: E402
from flowise_async.testing import FakeFlowise  # noqa: E402


FLOW = "relay-flow"
HEARTBEAT = 15.0  # far longer than the bound: leaving must not wait for the next write
SETTLE = 1.0  # the bound: abort sent and pool released this long after the browser left
APPS = 10
LEAVES_PER_APP = 20  # 200 in all; the first of each app is the first request of a fresh app
SEED = 20261205
# uvicorn's HTTP implementations (httptools when it is installed, as with uvicorn[standard])
HTTP = ["h11"] + (["httptools"] if importlib.util.find_spec("httptools") else [])


def relay_app(base_url: str) -> FastAPI:
    app = FastAPI(
        lifespan=flowise_lifespan(
            lambda: AsyncFlowise(
                base_url,
                abort_on_exit=True,
                timeouts=Timeouts(connect=2, headers=10),
                retries=Retries(attempts=1),
            )
        )
    )

    @app.get("/chat")
    async def chat(request: Request, question: str) -> SSEResponse:
        stream = get_flowise(request).predictions.stream(FLOW, question)
        return sse_response(stream, heartbeat=HEARTBEAT, first_event_timeout=None)

    return app


@asynccontextmanager
async def served(app: FastAPI, http: str) -> AsyncIterator[int]:
    """*app* on a freshly started uvicorn on 127.0.0.1; yields its port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="none", http=http
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        assert loop.time() < deadline, "uvicorn did not start in 20 s"
        await asyncio.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def until(condition: Any, seconds: float, what: str) -> float:
    """Poll *condition* until true; fail after *seconds*. Returns the time it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > seconds:
            pytest.fail(f"{what} not within {seconds} s")
        await asyncio.sleep(0.005)
    return loop.time() - start


async def leave_once(port: int, fake: FakeFlowise, app: FastAPI, rng: random.Random) -> float:
    """One browser: ask, read for a random while, go away. Returns the settle time."""
    tokens = [f"t{i} " for i in range(rng.randint(0, 30))]
    fake.answer(
        FLOW,
        *tokens,
        delay=rng.choice([0.0, 0.005, 0.02]),
        stall_after=rng.randint(0, len(tokens) + 1),  # start and tokens, then silence: no end
        times=1,
    )
    asked = len(fake.predictions)
    aborted = len(fake.aborts)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /chat?question=hi HTTP/1.1\r\nHost: relay\r\nAccept: text/event-stream\r\n\r\n"
    )
    await writer.drain()
    where = rng.random()
    if where >= 0.1:  # else: at once, maybe before the relay has even asked Flowise
        await until(lambda: len(fake.predictions) > asked, 10, "the prediction at Flowise")
    if where < 0.25:
        pass  # at once: the relay may still be waiting for the first event
    elif where < 0.6:
        await asyncio.sleep(rng.uniform(0, 0.2))  # somewhere in the tokens or the stall
    else:
        await reader.read(rng.randint(1, 400))  # after some bytes of the answer
    loop = asyncio.get_running_loop()
    left = loop.time()
    if rng.random() < 0.5:
        writer.transport.abort()  # a reset
    else:
        writer.close()  # a clean close
    client: AsyncFlowise = app.state.flowise

    def settled() -> bool:
        # Every run that reached Flowise is aborted (one that never left is not), and the
        # connection is back in the pool.
        runs = len(fake.predictions) - asked
        return len(fake.aborts) - aborted == runs and client.pool_stats()["acquired"] == 0

    await until(settled, SETTLE, "the abort and the pool's release")
    if not writer.is_closing():
        writer.close()
    return loop.time() - left


async def test_browsers_leaving_at_random_points_abort_and_release_the_pool() -> None:
    rng = random.Random(SEED)
    settle: list[float] = []
    async with FakeFlowise(max_stall=30) as fake:
        for number in range(APPS):
            app = relay_app(fake.url)
            async with served(app, HTTP[number % len(HTTP)]) as port:
                for _ in range(LEAVES_PER_APP):
                    settle.append(await leave_once(port, fake, app, rng))
                assert app.state.flowise.pool_stats()["acquired"] == 0
    assert len(settle) == APPS * LEAVES_PER_APP
    assert max(settle) <= SETTLE


async def test_a_browser_leaving_a_whole_answer_releases_the_pool() -> None:
    """Widget proxy, not streamed: the browser leaves while Flowise's answer is still coming."""
    from aiohttp import web

    from flowise_async.widget import widget_router
    from tests.unit._server import serve

    async def slow_json(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 100
        await response.prepare(request)
        await response.write(b'{"text": "')  # then nothing for a long while
        await asyncio.sleep(30)
        return response

    async with serve([("POST", "/api/v1/prediction/{flow}", slow_json)]) as url:
        app = FastAPI(
            lifespan=flowise_lifespan(
                lambda: AsyncFlowise(url, timeouts=Timeouts(connect=2, idle=60))
            )
        )
        app.include_router(widget_router({"pub": FLOW}))
        async with served(app, HTTP[0]) as port:
            client: AsyncFlowise = app.state.flowise
            for _ in range(5):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                body = b'{"question": "hi"}'
                writer.write(
                    b"POST /api/v1/prediction/pub HTTP/1.1\r\nHost: w\r\n"
                    b"Content-Type: application/json\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
                await writer.drain()
                await until(lambda: client.pool_stats()["acquired"] == 1, 10, "the answer")
                writer.close()
                await until(
                    lambda: client.pool_stats()["acquired"] == 0, SETTLE, "the pool's release"
                )
