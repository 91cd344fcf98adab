"""
Serving state in Redis: rate limits and conversation locks shared by every worker process and
every machine that uses the same Redis server.

Install the ``redis`` extra (``python -m pip install "./flowise_async[fastapi,redis]"`` next to
a clone) and create the store from a URL::

    from flowise_async.serving.redis_store import RedisStateStore

    store = RedisStateStore.from_url("redis://127.0.0.1:6379/0", timeout=2.0)
    wait = await store.take("user:alice", rate=1.0, burst=5)  # None: admitted
    if await store.lock("conversation:chat-1", owner="worker-7:run-42", ttl=30):
        ...  # renew() it while the run lives, unlock() it at the end
    await store.aclose()

Every call either answers or raises `RedisStoreUnavailableError` within *timeout* seconds,
whatever Redis does (down, unreachable, stalled): it never hangs. The first failure of an
outage is logged as a warning on the ``flowise_async.serving`` logger (the URL without its
password), and the return of Redis as an info record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .state import StateStoreUnavailableError


try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flowise_async.serving.redis_store needs the redis package. From the folder holding "
        'your clone of flowise_async: python -m pip install "./flowise_async[fastapi,redis]"'
    ) from exc


__all__ = ["RedisStateStore", "RedisStoreUnavailableError"]

logger = logging.getLogger("flowise_async.serving")

# One token of a bucket, atomically: read the bucket, refill it for the time since its last
# use (Redis's own clock, the same for every worker), take a token if there is one, write it
# back and let it expire once it would be full again (a missing bucket is a full one).
# KEYS[1]: the bucket; ARGV: rate (tokens per second), burst. Returns nil when a token was
# taken, else the seconds until one is free (as a string: Lua numbers become integers).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1])
local at = tonumber(saved[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
local elapsed = now - at
if elapsed < 0 then
  elapsed = 0
end
tokens = math.min(burst, tokens + elapsed * rate)
local wait = nil
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
if wait == nil then
  return false
end
return tostring(wait)
"""

# Extend a lock only while its owner still holds it. KEYS[1]: the lock; ARGV: owner, ttl (ms).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Delete a lock only if its owner still holds it. KEYS[1]: the lock; ARGV[1]: owner.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisStoreUnavailableError(StateStoreUnavailableError):
    """
    Redis could not be reached, failed, or did not answer within the store's bound (a
    `~flowise_async.serving.StateStoreUnavailableError`: the fronts answer it with a safe
    ``503``).

    Attributes:
        url: The Redis URL, without its password.
        timeout: The bound that applied, in seconds.
    """

    def __init__(self, message: str, *, url: str, timeout: float) -> None:
        super().__init__(message)
        self.url = url
        self.timeout = timeout


def _safe_url(url: str) -> str:
    """*url* with its password (and a bare user name used as one) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable Redis URL>"
    if "@" not in parts.netloc:
        return url
    user = parts.username or ""
    shown = f"{user}:***" if user and parts.password is not None else "***"
    netloc = f"{shown}@{host}" + (f":{port}" if port is not None else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _milliseconds(ttl: float) -> int:
    if not (ttl > 0 and math.isfinite(ttl)):
        raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


class RedisStateStore:
    """
    A `~flowise_async.serving.StateStore` in Redis: rate limits and conversation locks for
    several workers and machines.

    Every method answers or raises `RedisStoreUnavailableError` within *timeout* seconds.
    Keys are stored under *prefix* (``<prefix>rate:<key>`` for buckets, ``<prefix>lock:<key>``
    for locks), so that one Redis database can serve other applications too.

    Args:
        client: A ``redis.asyncio.Redis`` client; `from_url` builds one with the right
            timeouts. The store closes it in `aclose`.
        url: The URL shown in errors and logs (its password is removed here).
        timeout: The bound on every call, in seconds.
        prefix: The prefix of every key the store writes.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        url: str = "redis",
        timeout: float = 2.0,
        prefix: str = "flowise_async:",
    ) -> None:
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.url = _safe_url(url)
        self.timeout = timeout
        self.prefix = prefix
        self._client = client
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._unlock = client.register_script(_UNLOCK)
        self._down = False  # whether the last call failed (an outage is logged once)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 2.0,
        prefix: str = "flowise_async:",
        max_connections: int = 50,
    ) -> RedisStateStore:
        """
        A store on the Redis server at *url* (``redis://[[user]:password@]host[:port][/db]``,
        or ``rediss://`` for TLS). Nothing is connected until the first call.

        Args:
            url: The Redis URL.
            timeout: The bound on every call, in seconds: the connect and read timeouts of
                the sockets, and a deadline over each whole call (a wait for a free
                connection and one reconnection after a dropped one included).
            prefix: The prefix of every key the store writes.
            max_connections: Connections to Redis at most; more concurrent calls wait for
                one (within *timeout*).
        """
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),  # once: a pooled connection dropped since its use
        )
        return cls(aioredis.Redis(connection_pool=pool), url=url, timeout=timeout, prefix=prefix)

    def __repr__(self) -> str:
        return f"RedisStateStore({self.url!r}, timeout={self.timeout})"

    async def _call(self, what: str, call: Any) -> Any:
        """Await *call* within the bound; Redis failures become RedisStoreUnavailableError."""
        try:
            async with asyncio.timeout(self.timeout):
                result = await call
        except (RedisError, OSError, TimeoutError) as exc:
            reason = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            if not self._down:
                self._down = True
                logger.warning(
                    "Redis state store at %s unavailable (%s during %s); calls fail until it "
                    "answers again",
                    self.url,
                    reason,
                    what,
                )
            raise RedisStoreUnavailableError(
                f"the Redis state store at {self.url} is unavailable ({reason} during {what}, "
                f"bound {self.timeout} s)",
                url=self.url,
                timeout=self.timeout,
            ) from None
        if self._down:
            self._down = False
            logger.info("Redis state store at %s answers again", self.url)
        return result

    async def take(self, key: str, *, rate: float, burst: int) -> float | None:
        """
        Take one token of the bucket *key*: *burst* tokens at once, refilled at *rate* per
        second (the meaning of `~flowise_async.serving.TokenBucket`), shared by every worker.

        Returns:
            None if a token was taken, else the seconds until one is free.

        Raises:
            RedisStoreUnavailableError: Redis did not answer within the bound.
            ValueError: *rate* is not positive or *burst* is below 1.
        """
        if not (rate > 0 and math.isfinite(rate)) or burst < 1:
            raise ValueError("take() needs rate > 0 and burst >= 1")
        args: list[str | int] = [repr(float(rate)), int(burst)]
        wait = await self._call("take", self._take(keys=[self._key("rate", key)], args=args))
        return None if wait is None else float(wait)

    async def lock(self, key: str, owner: str, *, ttl: float) -> bool:
        """
        Take the lock *key* for *owner* if nobody holds it; it expires after *ttl* seconds
        unless renewed (so a worker that dies frees its locks).

        Returns:
            Whether *owner* now holds the lock.
        """
        ms = _milliseconds(ttl)
        done = await self._call(
            "lock", self._client.set(self._key("lock", key), owner, nx=True, px=ms)
        )
        return bool(done)

    async def renew(self, key: str, owner: str, *, ttl: float) -> bool:
        """
        Give the lock *key* another *ttl* seconds, only if *owner* still holds it.

        Returns:
            False if the lock expired or another owner holds it.
        """
        ms = _milliseconds(ttl)
        done = await self._call(
            "renew", self._renew(keys=[self._key("lock", key)], args=[owner, ms])
        )
        return bool(done)

    async def unlock(self, key: str, owner: str) -> bool:
        """
        Release the lock *key* if *owner* holds it (another owner's lock is left alone).

        Returns:
            Whether a lock of *owner* was released.
        """
        done = await self._call("unlock", self._unlock(keys=[self._key("lock", key)], args=[owner]))
        return bool(done)

    async def aclose(self) -> None:
        """Close the connections to Redis. Idempotent."""
        pool = self._client.connection_pool
        with contextlib.suppress(RedisError, OSError, TimeoutError):  # closing what is gone
            async with asyncio.timeout(self.timeout):
                await self._client.aclose()
                await pool.disconnect()

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}{kind}:{key}"
