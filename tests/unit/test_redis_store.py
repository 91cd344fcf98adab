"""
The Redis state store against a real ``redis-server`` (Debian's package, started here on
127.0.0.1): token buckets shared by several processes, owner-checked locks that outlive their
expiry while renewed and free themselves when their holder dies, and a bounded, typed failure
when Redis goes away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest


pytest.importorskip("starlette", reason="needs the fastapi extra")
pytest.importorskip("redis", reason="needs the redis extra")

from flowise_async.serving import (
    ConversationLock,
    StateStore,
    StateStoreUnavailableError,
    StoreRateLimiter,
)
from flowise_async.serving.redis_store import (
    RedisStateStore,
    RedisStoreUnavailableError,
)
from tests._redis import RedisServer


ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-redis-pw-7f1c"
BOUND = 0.5  # the store's timeout in these tests
SLACK = 1.5  # scheduling room on a loaded machine, beside the bound


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for the module (keys differ per test), with a password."""
    server = RedisServer(tmp_path_factory.mktemp("redis"), password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, for tests that stop or freeze it."""
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisStateStore]:
    store = RedisStateStore.from_url(redis_server.url, timeout=5)
    yield store
    await store.aclose()


def _key(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name}:{time.time_ns()}"


# -- token buckets ------------------------------------------------------------------------------


async def test_burst_at_once_then_the_wait_until_a_token(
    store: RedisStateStore, request: pytest.FixtureRequest
) -> None:
    """*burst* tokens at once; then the seconds until the next one, as TokenBucket says."""
    key = _key(request)
    assert [await store.take(key, rate=0.5, burst=3) for _ in range(3)] == [None] * 3
    wait = await store.take(key, rate=0.5, burst=3)
    assert wait is not None
    assert 1.0 < wait <= 2.0  # one token at 0.5/s: up to 2 s, less what has refilled since
    other = await store.take(f"{key}:other", rate=0.5, burst=3)
    assert other is None  # buckets are per key


async def test_the_bucket_refills_at_its_rate(
    store: RedisStateStore, request: pytest.FixtureRequest
) -> None:
    """An empty bucket gives a token again once 1/rate seconds have passed, not before."""
    key = _key(request)
    assert await store.take(key, rate=4, burst=1) is None
    wait = await store.take(key, rate=4, burst=1)
    assert wait is not None
    assert 0 < wait <= 0.25
    started = time.monotonic()
    while (wait := await store.take(key, rate=4, burst=1)) is not None:
        assert time.monotonic() - started < 5, "no token after 5 s at 4/s"
        await asyncio.sleep(min(wait, 0.05))
    assert time.monotonic() - started >= 0.15  # about 0.25 s after the first take


async def test_a_bucket_key_expires_once_it_would_be_full(
    store: RedisStateStore, redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    """Buckets do not pile up in Redis: each expires when it would be full again anyway."""
    key = _key(request)
    await store.take(key, rate=10, burst=5)
    ttl_ms = await store._client.pttl(f"flowise_async:rate:{key}")
    assert 0 < ttl_ms <= 100 + 1000  # one token to refill at 10/s, plus a second of margin


async def test_bad_bucket_arguments_are_value_errors(store: RedisStateStore) -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        await store.take("k", rate=0, burst=1)
    with pytest.raises(ValueError, match="burst >= 1"):
        await store.take("k", rate=1, burst=0)
    with pytest.raises(ValueError, match="ttl"):
        await store.lock("k", "me", ttl=0)


def _round(procs: list[subprocess.Popen[str]], kind: str, seconds: float) -> tuple[int, float]:
    """One round: every process takes tokens for *seconds*; (admitted in all, window)."""
    start = time.time() + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start} {start + seconds} {kind}\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "no answer"
        results.append(json.loads(line))
    window = max(r["last"] for r in results) - min(r["first"] for r in results)
    return sum(r["admitted"] for r in results), window


def test_four_processes_share_one_bucket(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> None:
    """
    Four processes hammering one key get burst + rate * t tokens in t seconds in all, as one
    process would; with a TokenBucket each (the control) they get about four times that.
    """
    rate, burst, seconds = 20.0, 10, 3.0
    args = [redis_server.url, _key(request), str(rate), str(burst)]
    procs = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.unit._redis_worker", "bucket", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for proc in procs:  # all imported and connected: then they start together
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        admitted, window = _round(procs, "redis", seconds)
        alone, alone_window = _round(procs, "memory", seconds)
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate(timeout=10)  # and close the pipes
    expected = burst + rate * window
    assert expected - 0.1 * rate * window - 2 <= admitted <= expected + 1, (admitted, window)
    assert alone >= 3 * (burst + rate * alone_window * 0.9), (alone, alone_window)


# -- locks --------------------------------------------------------------------------------------


async def test_lock_is_exclusive_and_only_its_owner_unlocks(
    store: RedisStateStore, request: pytest.FixtureRequest
) -> None:
    key = _key(request)
    assert await store.lock(key, "run-a", ttl=30)
    assert not await store.lock(key, "run-b", ttl=30)  # NX: held
    assert not await store.lock(key, "run-a", ttl=30)  # not re-entrant either
    assert not await store.unlock(key, "run-b")  # not its lock
    assert not await store.renew(key, "run-b", ttl=30)
    assert not await store.lock(key, "run-b", ttl=30)  # still held by run-a
    assert await store.unlock(key, "run-a")
    assert not await store.unlock(key, "run-a")  # already released
    assert await store.lock(key, "run-b", ttl=30)


async def test_renewed_lock_outlives_three_times_its_ttl(
    store: RedisStateStore, request: pytest.FixtureRequest
) -> None:
    """A run renewing its lock keeps it for 3x the ttl; once it stops, the lock expires."""
    key, ttl = _key(request), 2.0  # renewals late by up to ttl / 2 on a loaded machine still hold
    assert await store.lock(key, "long-run", ttl=ttl)
    started = time.monotonic()
    while time.monotonic() - started < 3 * ttl:
        await asyncio.sleep(ttl / 5)
        assert await store.renew(key, "long-run", ttl=ttl)
        assert not await store.lock(key, "second", ttl=ttl)
    stopped = time.monotonic()
    while not await store.lock(key, "second", ttl=ttl):
        assert time.monotonic() - stopped < ttl + SLACK, "the lock outlived its ttl"
        await asyncio.sleep(0.05)
    assert not await store.renew(key, "long-run", ttl=ttl)  # lost, and it knows


async def test_lock_of_a_killed_process_expires_within_its_ttl(
    redis_server: RedisServer, store: RedisStateStore, request: pytest.FixtureRequest
) -> None:
    key, ttl = _key(request), 2.0  # renewals late by up to ttl / 2 on a loaded machine still hold
    holder = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "tests.unit._redis_worker",
            "hold",
            redis_server.url,
            key,
            "w1",
            str(ttl),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 30)
        assert line.strip() == "locked", holder.stderr.read() if holder.stderr else line
        await asyncio.sleep(2 * ttl)  # not a synchronisation: the holder renews past its ttl
        assert not await store.lock(key, "w2", ttl=ttl)
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        holder.wait(10)
        while not await store.lock(key, "w2", ttl=ttl):
            assert time.monotonic() - killed < ttl + SLACK, "the dead holder's lock stayed"
            await asyncio.sleep(0.05)
    finally:
        holder.kill()
        holder.communicate(timeout=10)  # and close the pipes


async def test_the_serving_pieces_run_on_it(
    store: RedisStateStore, request: pytest.FixtureRequest
) -> None:
    """It is a StateStore: StoreRateLimiter and ConversationLock (the fronts' pieces) use it."""
    shared: StateStore = store
    limiter = StoreRateLimiter(shared, rate=0.5, burst=2)
    key = _key(request)
    assert [await limiter.acquire(key) for _ in range(2)] == [None, None]
    assert (await limiter.acquire(key) or 0) > 1.0
    first = ConversationLock(shared, f"conversation:{key}", ttl=5)
    second = ConversationLock(shared, f"conversation:{key}", ttl=5)
    assert await first.acquire()
    assert not await second.acquire()  # the gateway's 409
    await first.release()
    assert await second.acquire()
    await second.release()


# -- when Redis is not there ---------------------------------------------------------------------


def _no_password(caplog: pytest.LogCaptureFixture, exc: BaseException) -> None:
    texts = [str(exc), repr(exc), *(str(v) for v in vars(exc).values())]
    texts += [record.getMessage() for record in caplog.records]
    assert not [text for text in texts if PASSWORD in text]


async def test_unreachable_redis_is_a_typed_error_within_the_bound(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Nobody listening: every call raises RedisStoreUnavailableError fast, logged once."""
    caplog.set_level(logging.INFO, logger="flowise_async.serving")
    url = RedisServer(tmp_path, password=PASSWORD).url  # never started
    store = RedisStateStore.from_url(url, timeout=BOUND)
    try:
        for call in (
            store.take("k", rate=1, burst=1),
            store.lock("k", "me", ttl=1),
            store.renew("k", "me", ttl=1),
            store.unlock("k", "me"),
        ):
            started = time.monotonic()
            with pytest.raises(RedisStoreUnavailableError) as info:
                await call
            assert time.monotonic() - started < BOUND + SLACK
            assert isinstance(info.value, StateStoreUnavailableError)  # the fronts' 503
            assert info.value.timeout == BOUND
            _no_password(caplog, info.value)
    finally:
        await store.aclose()
    warnings = [r for r in caplog.records if r.name == "flowise_async.serving"]
    assert len(warnings) == 1  # the outage, once
    assert warnings[0].levelno == logging.WARNING
    assert "127.0.0.1" in warnings[0].getMessage()


@pytest.mark.parametrize("how", ["killed", "frozen"])
async def test_redis_gone_mid_use_is_a_typed_error_within_the_bound(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    """Redis killed (refused) or frozen (silent) while in use: the typed error, in time."""
    caplog.set_level(logging.INFO, logger="flowise_async.serving")
    store = RedisStateStore.from_url(own_redis.url, timeout=BOUND)
    try:
        assert await store.take("k", rate=1, burst=5) is None  # pooled connection in use
        assert await store.lock("held", "me", ttl=30)
        if how == "killed":
            own_redis.stop()
        else:
            own_redis.freeze()
        for call in (store.take("k", rate=1, burst=5), store.renew("held", "me", ttl=30)):
            started = time.monotonic()
            with pytest.raises(RedisStoreUnavailableError) as info:
                await call
            assert time.monotonic() - started < BOUND + SLACK
            _no_password(caplog, info.value)
        assert any(r.levelno == logging.WARNING for r in caplog.records)
        if how == "frozen":  # back again: the store answers and says so
            own_redis.thaw()
            assert await store.renew("held", "me", ttl=30)
            assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        await store.aclose()


def test_the_url_password_never_shows(redis_server: RedisServer) -> None:
    store = RedisStateStore.from_url(redis_server.url)
    assert PASSWORD not in repr(store)
    assert PASSWORD not in store.url
    assert "***" in store.url
