"""
The state the server-side fronts share between requests: rate-limit buckets and conversation
locks, behind one small interface (`StateStore`).

`MemoryStateStore` keeps it in the process (one worker); a store on a shared server (Redis, for
several workers) implements the same five methods. A store that cannot be reached raises
`StateStoreUnavailableError`, which the fronts answer with a safe ``503``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from .._exceptions import FlowiseError


__all__ = [
    "ConversationLock",
    "MemoryStateStore",
    "StateStore",
    "StateStoreUnavailableError",
    "StoreRateLimiter",
]

logger = logging.getLogger("flowise_async.serving")


class StateStoreUnavailableError(FlowiseError):
    """The state store (rate limits, conversation locks) could not be reached or failed."""


class StateStore(Protocol):
    """
    Where the fronts keep rate-limit buckets and conversation locks.

    Every method may raise `StateStoreUnavailableError`.
    """

    async def take(self, key: str, *, rate: float, burst: int) -> float | None:
        """
        Take one token from *key*'s bucket (*burst* tokens, refilled at *rate* per second).

        Returns:
            None if a token was taken, else the seconds until one is free.
        """
        ...

    async def lock(self, key: str, owner: str, *, ttl: float) -> bool:
        """Take the lock *key* for *owner* for *ttl* seconds if nobody holds it (SET NX PX)."""
        ...

    async def renew(self, key: str, owner: str, *, ttl: float) -> bool:
        """Extend the lock to *ttl* seconds from now if *owner* still holds it."""
        ...

    async def unlock(self, key: str, owner: str) -> bool:
        """Release the lock if *owner* holds it; True if it did."""
        ...

    async def aclose(self) -> None:
        """Release the store's resources."""
        ...


class MemoryStateStore:
    """
    A `StateStore` in this process's memory: right for one worker.

    Args:
        max_keys: Buckets remembered; the least recently used are forgotten beyond it (a
            forgotten bucket is full again). Locks are not forgotten before they expire.
        clock: A monotonic clock (for tests).
    """

    def __init__(
        self, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._locks: dict[str, tuple[str, float]] = {}

    async def take(self, key: str, *, rate: float, burst: int) -> float | None:
        """Take one token from *key*'s bucket; None, or the seconds until one is free."""
        return self.take_now(key, rate=rate, burst=burst)

    def take_now(self, key: str, *, rate: float, burst: int) -> float | None:
        """`take`, without awaiting (the token bucket of `TokenBucket`)."""
        if rate <= 0 or burst < 1:
            raise ValueError("a bucket needs rate > 0 and burst >= 1")
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        wait = None
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.pop(next(iter(self._buckets)))
        return wait

    def _holder(self, key: str) -> str | None:
        held = self._locks.get(key)
        if held is None:
            return None
        if held[1] <= self._clock():
            del self._locks[key]
            return None
        return held[0]

    async def lock(self, key: str, owner: str, *, ttl: float) -> bool:
        """Take the lock for *ttl* seconds if it is free (or expired)."""
        if self._holder(key) is not None:
            return False
        self._locks[key] = (owner, self._clock() + ttl)
        return True

    async def renew(self, key: str, owner: str, *, ttl: float) -> bool:
        """Extend the lock if *owner* still holds it."""
        if self._holder(key) != owner:
            return False
        self._locks[key] = (owner, self._clock() + ttl)
        return True

    async def unlock(self, key: str, owner: str) -> bool:
        """Release the lock if *owner* holds it."""
        if self._holder(key) != owner:
            return False
        del self._locks[key]
        return True

    async def aclose(self) -> None:
        """Forget every bucket and lock."""
        self._buckets.clear()
        self._locks.clear()


class StoreRateLimiter:
    """
    A `~flowise_async.serving.RateLimiter` on a `StateStore` (e.g. one shared by several
    workers): *burst* requests at once per key, refilled at *rate* per second.

    Args:
        store: The store.
        rate: Requests per second, sustained.
        burst: Requests allowed at once.
        prefix: Put before each key in the store.
    """

    def __init__(
        self, store: StateStore, rate: float, burst: int = 1, *, prefix: str = "rate:"
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("StoreRateLimiter needs rate > 0 and burst >= 1")
        self.store = store
        self.rate = rate
        self.burst = burst
        self.prefix = prefix

    async def acquire(self, key: str) -> float | None:
        """Take one token for *key*; return None, or the seconds until one is free."""
        return await self.store.take(self.prefix + key, rate=self.rate, burst=self.burst)


class ConversationLock:
    """
    Hold the lock *key* of a `StateStore` for the life of a run, renewing it every ``ttl / 3``
    seconds, so that a crashed worker's lock expires while a long run keeps its own.

    Example::

        lock = ConversationLock(store, f"conversation:{flow}:{chat_id}")
        if not await lock.acquire():
            ...  # busy: answer 409
        try:
            ...  # the run
        finally:
            await lock.release()

    Args:
        store: The store.
        key: The lock's key.
        ttl: Seconds the lock lives without a renewal.
    """

    def __init__(self, store: StateStore, key: str, *, ttl: float = 30.0) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.store = store
        self.key = key
        self.ttl = ttl
        self.owner = uuid.uuid4().hex
        self._renewer: asyncio.Task[None] | None = None
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this lock was acquired and not released (nor lost)."""
        return self._held

    async def acquire(self) -> bool:
        """Take the lock; False if someone else holds it. Starts the renewals."""
        if self._held:
            raise RuntimeError("this ConversationLock is already held")
        if not await self.store.lock(self.key, self.owner, ttl=self.ttl):
            return False
        self._held = True
        self._renewer = asyncio.create_task(self._renew())
        return True

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                kept = await self.store.renew(self.key, self.owner, ttl=self.ttl)
            except StateStoreUnavailableError:
                kept = True  # keep trying: the lock lives for ttl, the store may come back
                logger.warning("could not renew a conversation lock: the state store failed")
            if not kept:
                self._held = False
                logger.warning("a conversation lock expired before its run ended")
                return

    async def release(self) -> None:
        """Stop the renewals and release the lock (if still held). Safe to call twice."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        if self._held:
            self._held = False
            with contextlib.suppress(StateStoreUnavailableError):
                await self.store.unlock(self.key, self.owner)  # else it expires after ttl

    async def __aenter__(self) -> bool:
        return await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
