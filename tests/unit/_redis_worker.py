"""
A worker process for the Redis state store tests (``python -m tests.unit._redis_worker``).

``bucket URL KEY RATE BURST``: print ``ready``; then for each line ``START END redis|memory``
read from stdin (epoch times), from START to END take tokens as fast as they come (from Redis,
or from a fresh in-memory TokenBucket of its own) and print ``{"admitted": n, "first": t0,
"last": t1}`` (epoch times of the first and last attempt).

``hold URL KEY OWNER TTL``: take the lock, print ``locked``, then renew it every TTL/4 seconds
until killed (60 s at most).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from flowise_async.serving.redis_store import RedisStateStore


async def bucket(url: str, key: str, rate: float, burst: int) -> None:
    from flowise_async.serving import TokenBucket

    store = RedisStateStore.from_url(url, timeout=5)
    print("ready", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        start_at, end_at, kind = line.split()
        start, end = float(start_at), float(end_at)
        local = TokenBucket(rate, burst) if kind == "memory" else None
        await asyncio.sleep(max(0.0, start - time.time()))
        admitted = 0
        first = time.time()
        last = first
        while (now := time.time()) < end:
            last = now
            if local is not None:
                wait = await local.acquire(key)
            else:
                wait = await store.take(key, rate=rate, burst=burst)
            if wait is None:
                admitted += 1
            else:
                await asyncio.sleep(min(wait, 0.01, max(0.0, end - time.time())))
        print(json.dumps({"admitted": admitted, "first": first, "last": last}), flush=True)
    await store.aclose()


async def hold(url: str, key: str, owner: str, ttl: float) -> None:
    store = RedisStateStore.from_url(url, timeout=5)
    if not await store.lock(key, owner, ttl=ttl):
        print("busy", flush=True)
        return
    print("locked", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await asyncio.sleep(ttl / 4)
        if not await store.renew(key, owner, ttl=ttl):
            print("lost", flush=True)
            return


def main(argv: list[str]) -> None:
    mode, url, key, *rest = argv
    if mode == "bucket":
        rate, burst = rest
        asyncio.run(bucket(url, key, float(rate), int(burst)))
    else:
        owner, ttl = rest
        asyncio.run(hold(url, key, owner, float(ttl)))


if __name__ == "__main__":
    main(sys.argv[1:])
