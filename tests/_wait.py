"""Waiting on conditions in tests: bounded polls, never a bare sleep as synchronisation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar


T = TypeVar("T")


async def wait_until(
    condition: Callable[[], object],
    *,
    timeout: float = 10,
    interval: float = 0.01,
    what: str = "the condition",
) -> None:
    """Poll *condition* until it is true; fail the test when *timeout* seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout} s")
        await asyncio.sleep(interval)


async def wait_steady(
    value: Callable[[], T],
    *,
    steady: float,
    timeout: float = 30,
    interval: float = 0.02,
    what: str = "the value",
) -> T:
    """
    Poll *value* until it has not changed for *steady* seconds, and return it; fail the test
    when it still changes after *timeout* seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = value()
    since = loop.time()
    while loop.time() - since < steady:
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still changing after {timeout} s (last {last!r})")
        await asyncio.sleep(interval)
        now = value()
        if now != last:
            last, since = now, loop.time()
    return last
