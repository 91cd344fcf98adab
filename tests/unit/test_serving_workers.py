"""
The fronts under several worker processes with one Redis (a real ``redis-server`` on
127.0.0.1, FakeFlowise upstream): ``uvicorn --workers 4`` keeps one rate limit for all its
workers (and four with the in-memory store), two gateway processes share their conversation
locks, and a Redis that goes away gives a safe 503 and a log record within the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest


pytest.importorskip("fastapi", reason="needs the fastapi extra")
pytest.importorskip("uvicorn", reason="needs the fastapi extra")
pytest.importorskip("redis", reason="needs the redis extra")

import aiohttp

from flowise_async.testing import FakeFlowise
from harness.server import free_port
from tests._redis import RedisServer


ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "workers-redis-pw-31d9"
STARTUP = 90.0  # seconds a server may take to start on a loaded machine
# A request that hangs fails on its own, well within the test's timeout, naming its URL.
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)


class Server:
    """One uvicorn (or ``serve-openai``) subprocess on a free 127.0.0.1 port."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, workers: int) -> None:
        self.port = free_port()
        self.log = log
        self.workers = workers
        environment = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        environment.pop("FLOWISE_API_KEY", None)
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own arguments
                [*args, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self) -> None:
        """Wait (bounded) until every worker has started."""
        deadline = time.monotonic() + STARTUP
        while self.text().count("Application startup complete") < self.workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"server did not start:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server's whole process group (no goodbye to anyone)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeFlowise]:
    async with FakeFlowise() as server:
        yield server


@contextlib.asynccontextmanager
async def uvicorn_app(
    tmp_path: Path, env: dict[str, str], *, workers: int = 1
) -> AsyncIterator[Server]:
    args = [sys.executable, "-m", "uvicorn", "tests.unit._fronts_app:app", "--factory"]
    args += ["--workers", str(workers), "--no-access-log"]
    server = Server(args, env, tmp_path / f"uvicorn-{free_port()}.log", workers)
    try:
        await server.ready()
        yield server
    finally:
        server.stop()


async def call(session: aiohttp.ClientSession, base: str, front: str, **extra: Any) -> int:
    """One request of *front*; its status (the body read to the end)."""
    if front == "relay":
        response = await session.get(f"{base}/chat", params={"question": "hi"})
    elif front == "widget":
        response = await session.post(f"{base}/api/v1/prediction/widget", json={"question": "hi"})
    else:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        response = await session.post(f"{base}/v1/chat/completions", json=body, **extra)
    async with response:
        await response.read()
        return response.status


RATE = 2.0
BURST = 4
SPAN = 3.0  # seconds of requests
CLIENTS = 8  # each opens a new connection per request, so every worker gets its share
PAUSE = 0.02  # seconds between one client's requests: ~400 a second in all, far above RATE


@pytest.mark.timeout(150)
@pytest.mark.parametrize("store", ["redis", "memory"])
@pytest.mark.parametrize("front", ["relay", "widget", "gateway"])
async def test_one_limit_across_four_workers(
    front: str, store: str, tmp_path: Path, redis_server: RedisServer, fake: FakeFlowise
) -> None:
    """A limit of burst B and rate R admits B + R*t over t seconds in all with Redis,
    however uvicorn spreads the requests over its 4 workers, and about 4x that in memory."""
    fake.answer("flow", "ok")
    env = {
        "FRONT": front,
        "FLOWISE_BASE_URL": fake.url,
        "STATE_URL": redis_server.url if store == "redis" else "",
        "RATE": str(RATE),
        "BURST": str(BURST),
    }
    async with uvicorn_app(tmp_path, env, workers=4) as server:
        # A new connection per request, several at once: every worker gets its share.
        connector = aiohttp.TCPConnector(force_close=True, limit=CLIENTS)
        async with aiohttp.ClientSession(connector=connector, timeout=REQUEST_TIMEOUT) as session:
            statuses: list[int] = []
            first = time.monotonic()
            end = first + SPAN
            last = first

            async def hammer() -> None:
                nonlocal last
                while time.monotonic() < end:
                    last = max(last, time.monotonic())
                    statuses.append(await call(session, server.url, front))
                    await asyncio.sleep(PAUSE)

            await asyncio.gather(*(hammer() for _ in range(CLIENTS)))
    span = last - first
    admitted = statuses.count(200)
    others = set(statuses) - {200, 429}
    assert not others, statuses
    one = BURST + RATE * span
    print(
        f"{front}/{store}: {admitted} admitted of {len(statuses)} in {span:.2f} s, "
        f"one bucket {one:.1f}"
    )
    if store == "redis":
        assert one - 2 <= admitted <= one + RATE * 0.5 + 1
    else:
        assert 3 * one <= admitted <= 4 * (one + RATE * 0.5 + 1)


TTL = 1.0  # the conversation locks' expiry in these tests
SLACK = 1.0  # scheduling room on a loaded machine


@contextlib.asynccontextmanager
async def gateways(
    tmp_path: Path, fake: FakeFlowise, redis: RedisServer
) -> AsyncIterator[tuple[Server, Server]]:
    """Two ``flowise-async serve-openai`` processes on two ports, one Redis."""
    args = [sys.executable, "-m", "flowise_async", "serve-openai", "--no-auth"]
    args += ["--base-url", fake.url, "--model", "m=flow", "--lock-ttl", str(TTL)]
    env = {"FLOWISE_STATE_URL": redis.url}
    servers = [Server(args, env, tmp_path / f"gateway-{n}.log", 1) for n in (1, 2)]
    try:
        await asyncio.gather(*(server.ready() for server in servers))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def on(conversation: str) -> dict[str, Any]:
    return {"headers": {"X-Conversation-Id": conversation}}


@pytest.mark.timeout(120)
async def test_one_conversation_across_two_gateways(
    tmp_path: Path, redis_server: RedisServer, fake: FakeFlowise
) -> None:
    """Two concurrent requests on one conversation, one to each process: one answer, one
    409; and the run, three times longer than the lock's expiry, keeps its lock."""
    fake.answer("flow", *["word "] * 7, delay=0.4, times=1)  # about 3.6 s
    fake.answer("flow", "next")
    async with (
        gateways(tmp_path, fake, redis_server) as (one, two),
        aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session,
    ):

        async def run(server: Server) -> tuple[int, float]:
            started = time.monotonic()
            status = await call(session, server.url, "gateway", **on("c1"))
            return status, time.monotonic() - started

        started = time.monotonic()
        tasks = [asyncio.create_task(run(server)) for server in (one, two)]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1, "both requests ended at once: they ran together"
        assert next(iter(done)).result()[0] == 409
        busy: list[tuple[float, int]] = []
        while not tasks[0].done() or not tasks[1].done():
            for server in (one, two):
                status = await call(session, server.url, "gateway", **on("c1"))
                busy.append((time.monotonic() - started, status))
            await asyncio.sleep(0.2)
        ((status, took),) = [task.result() for task in pending]
    assert status == 200
    assert took >= 3 * TTL
    assert busy
    assert all(code == 409 for _, code in busy), busy
    assert max(at for at, _ in busy) >= 3 * TTL - 0.5  # still refused after 3 expiries
    print(
        f"run {took:.2f} s (ttl {TTL} s), {len(busy)} refusals, the last at "
        f"{max(at for at, _ in busy):.2f} s"
    )
    assert len(fake.predictions) == 1  # the refused requests never reached Flowise


@pytest.mark.timeout(120)
async def test_killed_gateway_frees_its_lock(
    tmp_path: Path, redis_server: RedisServer, fake: FakeFlowise
) -> None:
    """The process holding a conversation's lock killed with SIGKILL frees it within the
    lock's expiry; the other process then answers on that conversation."""
    fake.answer("flow", *["word "] * 30, delay=1.0, times=1)  # long: killed on the way
    fake.answer("flow", "next")
    async with (
        gateways(tmp_path, fake, redis_server) as (one, two),
        aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session,
    ):
        held = asyncio.create_task(call(session, one.url, "gateway", **on("c2")))
        deadline = time.monotonic() + 30
        while not fake.predictions:  # the run reached Flowise: its lock is held
            assert time.monotonic() < deadline
            assert not held.done()
            await asyncio.sleep(0.05)
        assert await call(session, two.url, "gateway", **on("c2")) == 409
        one.kill()
        killed = time.monotonic()
        statuses = []
        while (status := await call(session, two.url, "gateway", **on("c2"))) == 409:
            statuses.append(status)
            assert time.monotonic() - killed < TTL + SLACK + 2, "the lock never expired"
            await asyncio.sleep(0.05)
        freed = time.monotonic() - killed
        with contextlib.suppress(aiohttp.ClientError):
            await held
    assert status == 200
    assert statuses, "the lock was free at once: it was released, not expired"
    print(f"lock freed {freed:.2f} s after SIGKILL (ttl {TTL} s)")
    assert freed <= TTL + SLACK


BOUND = 0.5  # the Redis store's timeout in these tests


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("front", "outage"),
    [("relay", "stopped"), ("widget", "stopped"), ("gateway", "stopped"), ("gateway", "frozen")],
)
async def test_redis_down_mid_run(
    front: str, outage: str, tmp_path: Path, redis_server: RedisServer, fake: FakeFlowise
) -> None:
    """Redis stopped (or frozen) while the front serves: a run under way still ends, a new
    request gets the safe 503 within the store's bound, and a warning goes to the log of
    ``flowise_async.serving``; nothing of Redis's address or password reaches the caller."""
    fake.answer("flow", *["word "] * 6, delay=0.3, times=1)  # a run of about 2.4 s
    fake.answer("flow", "ok")
    env = {
        "FRONT": front,
        "FLOWISE_BASE_URL": fake.url,
        "STATE_URL": redis_server.url,
        "STATE_TIMEOUT": str(BOUND),
        "RATE": "100",
        "BURST": "100",
        "LOCK_TTL": str(TTL),
    }
    async with (
        uvicorn_app(tmp_path, env) as server,
        aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as session,
    ):
        run = asyncio.create_task(call(session, server.url, front, **on("c3")))
        deadline = time.monotonic() + 30
        while not fake.predictions:
            assert time.monotonic() < deadline
            assert not run.done()
            await asyncio.sleep(0.05)
        if outage == "stopped":
            redis_server.stop()
        else:
            redis_server.freeze()
        started = time.monotonic()
        url = f"{server.url}/chat?question=hi" if front == "relay" else None
        if url is not None:
            response = await session.get(url)
        elif front == "widget":
            response = await session.post(
                f"{server.url}/api/v1/prediction/widget", json={"question": "hi"}
            )
        else:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            response = await session.post(
                f"{server.url}/v1/chat/completions", json=body, **on("c4")
            )
        async with response:
            text = await response.text()
        took = time.monotonic() - started
        assert await run == 200  # the run under way ends with its answer
        deadline = time.monotonic() + 10
        while "LOG WARNING" not in server.text():
            assert time.monotonic() < deadline, server.text()[-3000:]
            await asyncio.sleep(0.05)
        log = server.text()
    if outage == "frozen":
        redis_server.thaw()
    print(f"{front}/{outage}: {response.status} in {took:.2f} s (bound {BOUND} s): {text}")
    assert response.status == 503, text
    assert "unavailable" in text
    assert "not available right now" in text
    assert took <= BOUND + SLACK
    assert PASSWORD not in text
    assert str(redis_server.port) not in text
    assert "unavailable" in log
    assert PASSWORD not in log
