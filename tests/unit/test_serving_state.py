"""The state store of the server side: buckets, conversation locks, the lock held for a run."""

from __future__ import annotations

import asyncio

import pytest


pytest.importorskip("starlette", reason="needs the fastapi extra")

from flowise_async import FlowiseError
from flowise_async.serving import (
    ConversationLock,
    MemoryStateStore,
    StateStoreUnavailableError,
    StoreRateLimiter,
    TokenBucket,
    describe_error,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_buckets_follow_token_bucket_semantics() -> None:
    clock = Clock()
    store = MemoryStateStore(clock=clock)
    assert [await store.take("k", rate=1, burst=2) for _ in range(2)] == [None, None]
    assert await store.take("k", rate=1, burst=2) == pytest.approx(1.0)
    assert await store.take("other", rate=1, burst=2) is None  # buckets are per key
    clock.now += 0.5
    assert await store.take("k", rate=1, burst=2) == pytest.approx(0.5)
    clock.now += 0.5
    assert await store.take("k", rate=1, burst=2) is None
    with pytest.raises(ValueError, match="rate"):
        await store.take("k", rate=0, burst=1)


async def test_token_bucket_and_store_rate_limiter_agree() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    limiter = StoreRateLimiter(MemoryStateStore(clock=clock), rate=2, burst=3)
    for _ in range(6):
        assert await bucket.acquire("a") == await limiter.acquire("a")
        clock.now += 0.1


async def test_buckets_are_bounded_by_max_keys() -> None:
    clock = Clock()
    store = MemoryStateStore(max_keys=3, clock=clock)
    for key in "abcd":
        assert await store.take(key, rate=0.001, burst=1) is None
    assert await store.take("a", rate=0.001, burst=1) is None  # forgotten: full again
    assert await store.take("d", rate=0.001, burst=1) is not None  # remembered
    assert len(store._buckets) == 3


async def test_locks_are_set_nx_with_expiry_renewal_and_owned_unlock() -> None:
    clock = Clock()
    store = MemoryStateStore(clock=clock)
    assert await store.lock("c", "one", ttl=10)
    assert not await store.lock("c", "two", ttl=10)
    assert not await store.renew("c", "two", ttl=10)
    assert not await store.unlock("c", "two")
    clock.now += 9
    assert await store.renew("c", "one", ttl=10)
    clock.now += 9
    assert not await store.lock("c", "two", ttl=10)  # renewed: still held
    clock.now += 2
    assert await store.lock("c", "two", ttl=10)  # expired: free
    assert not await store.renew("c", "one", ttl=10)
    assert await store.unlock("c", "two")
    assert await store.lock("c", "one", ttl=10)
    await store.aclose()
    assert await store.lock("c", "two", ttl=10)


async def test_conversation_lock_is_renewed_for_the_life_of_a_run() -> None:
    store = MemoryStateStore()
    renewals: list[float] = []
    real_renew = store.renew

    async def renew(key: str, owner: str, *, ttl: float) -> bool:
        renewals.append(ttl)
        return await real_renew(key, owner, ttl=ttl)

    store.renew = renew  # type: ignore[method-assign]
    held = ConversationLock(store, "conv", ttl=0.3)
    assert await held.acquire()
    assert not await ConversationLock(store, "conv", ttl=0.3).acquire()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(renewals) < 3:  # every ttl/3: the lock outlives its ttl while the run goes on
        assert loop.time() < deadline, "no renewals"
        await asyncio.sleep(0.02)
    assert not await ConversationLock(store, "conv", ttl=0.3).acquire()
    await held.release()
    await held.release()  # twice is fine
    async with ConversationLock(store, "conv", ttl=0.3) as again:
        assert again


class DownStore:
    """A store whose server is gone."""

    async def take(self, key: str, *, rate: float, burst: int) -> float | None:
        raise StateStoreUnavailableError("the state store is down")

    async def lock(self, key: str, owner: str, *, ttl: float) -> bool:
        raise StateStoreUnavailableError("the state store is down")

    async def renew(self, key: str, owner: str, *, ttl: float) -> bool:
        raise StateStoreUnavailableError("the state store is down")

    async def unlock(self, key: str, owner: str) -> bool:
        raise StateStoreUnavailableError("the state store is down")

    async def aclose(self) -> None:
        return None


def test_a_down_store_is_a_safe_503() -> None:
    error = describe_error(StateStoreUnavailableError("redis://secret-host:6379 refused"))
    assert issubclass(StateStoreUnavailableError, FlowiseError)
    assert (error.type, error.status) == ("unavailable", 503)
    assert "redis" not in error.message
