"""
Cancellation without leaks, at scale, and the abort hook.

A thousand streams are cancelled at random points (before the headers, between events, in the
middle of a frame, while the consumer is slow, by ``break`` and by `asyncio.timeout`); afterwards
no connection is acquired, the server holds only closed or idle connections, no task is pending
and no unclosed-resource warning was raised. Streams opened with the abort hook call the abort
endpoint exactly once when they are left early, never when they ran to their end.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flowise_async import AsyncFlowise, Limits, NotFoundError, Timeouts
from flowise_async.events import EndEvent, TokenEvent

from .conftest import (
    END,
    FLOW_ID,
    Conn,
    RawServer,
    Request,
    frame,
    pending_tasks,
)


Serve = Callable[..., Awaitable[RawServer]]
MakeClient = Callable[..., AsyncFlowise]

ABORT_PREFIX = f"/api/v1/chatmessage/abort/{FLOW_ID}/"
ABORTED = {"status": 200, "message": "Chat message aborted"}


async def scripted(request: Request, conn: Conn) -> bool:
    """
    A prediction server driven by the question: ``"<headers delay ms> <events> <gap ms> <split>"``.
    With *split* 1 every frame is written in two halves with a pause between them (a cancel can
    land mid-frame). Abort calls are answered like Flowise does.
    """
    if request.method == "PUT":
        await conn.respond(200, ABORTED)
        return True
    delay_ms, events, gap_ms, split = (int(x) for x in request.json()["question"].split())
    if delay_ms:
        await asyncio.sleep(delay_ms / 1000)
    await conn.head()
    for i in range(events):
        data = frame("token", f"t{i}")
        if split:
            await conn.chunk(data[:20])
            await asyncio.sleep(gap_ms / 1000)
            await conn.chunk(data[20:])
        else:
            await asyncio.sleep(gap_ms / 1000)
            await conn.chunk(data)
    await conn.chunk(END)
    await conn.end()
    return True


SCENARIOS = [
    "complete",  # control: read to the end, connection reused
    "before-headers",  # cancelled while the server delays the headers
    "between-events",  # the consumer's task is cancelled after k events
    "mid-frame",  # cancelled while half a frame has arrived
    "slow-consumer",  # cancelled while the consumer sleeps on an event
    "break",  # the consumer leaves the loop early
    "timeout",  # asyncio.timeout around the stream expires
]


@pytest.mark.async_only  # task cancellation
async def test_thousand_random_cancellations_leak_nothing(
    serve: Serve, make_client: MakeClient
) -> None:
    """1,000 streams cancelled at random points leave no acquired connection, busy server connection, pending task or warning."""
    rng = random.Random(1234)
    server = await serve(scripted)
    client = make_client(
        server.url,
        timeouts=Timeouts(connect=5, headers=10, idle=10),
        limits=Limits(max_connections=64),
    )
    outcomes: Counter[str] = Counter()
    expect_abort: dict[str, int] = {}
    gate = asyncio.Semaphore(96)

    async def one(i: int) -> None:
        scenario = SCENARIOS[i % len(SCENARIOS)]
        abort = i % 2 == 0
        if scenario == "before-headers":
            question = f"{rng.randint(30, 80)} 3 1 0"
        elif scenario == "mid-frame":
            question = f"0 4 {rng.randint(20, 60)} 1"
        else:
            question = f"0 {rng.randint(2, 8)} {rng.randint(0, 5)} 0"
        stream = client.predictions.stream(FLOW_ID, question, abort_on_exit=abort)
        seen: list[Any] = []
        me = asyncio.current_task()
        assert me is not None
        loop = asyncio.get_running_loop()
        if scenario == "before-headers":
            loop.call_later(rng.uniform(0, 0.025), me.cancel)
        try:
            if scenario == "timeout":
                async with asyncio.timeout(rng.uniform(0.001, 0.03)):
                    async with stream:
                        async for event in stream:
                            seen.append(event)
                            await asyncio.sleep(0.01)
            else:
                async with stream:
                    k = rng.randint(0, 3)
                    async for event in stream:
                        seen.append(event)
                        if scenario == "between-events" and len(seen) > k:
                            me.cancel()
                            await asyncio.sleep(0)
                        elif scenario == "mid-frame" and len(seen) > k % 2:
                            loop.call_later(rng.uniform(0.002, 0.015), me.cancel)
                            await asyncio.sleep(0)
                            k = 99  # schedule only once
                        elif scenario == "slow-consumer":
                            loop.call_later(rng.uniform(0, 0.02), me.cancel)
                            await asyncio.sleep(0.05)
                        elif scenario == "break" and len(seen) > k:
                            break
            outcomes[f"{scenario}:finished"] += 1
        except asyncio.CancelledError:
            outcomes[f"{scenario}:cancelled"] += 1
            me.uncancel()
        except TimeoutError:
            outcomes[f"{scenario}:timed-out"] += 1
        finally:
            if abort:
                expect_abort[stream.chat_id] = 0 if any(type(e) is EndEvent for e in seen) else 1

    async def gated(i: int) -> None:
        async with gate:
            await one(i)

    started = time.monotonic()
    async with asyncio.timeout(60):
        await asyncio.gather(*(gated(i) for i in range(1000)))
        await client.wait_for_aborts()
    elapsed = time.monotonic() - started

    assert sum(outcomes.values()) == 1000
    left_early = sum(n for key, n in outcomes.items() if not key.startswith("complete"))
    assert outcomes["complete:finished"] == 1000 // len(SCENARIOS) + 1
    assert left_early >= 800, outcomes  # the run really did cancel most streams
    for scenario in SCENARIOS[1:]:
        assert (
            outcomes[f"{scenario}:cancelled"]
            + outcomes[f"{scenario}:timed-out"]
            + outcomes[f"{scenario}:finished"]
            > 0
        )

    # No leak on the client: nothing acquired, nothing pending, no warning once collected.
    assert client.pool_stats()["acquired"] == 0
    assert not pending_tasks()
    gc.collect()

    # The server: every connection closed or idle between requests.
    assert await server.settled(10), server.states()
    assert set(server.states()) <= {"closed", "idle"}

    # Abort calls: exactly one per stream with the hook that did not see its end.
    aborted = Counter(
        r.path.removeprefix(ABORT_PREFIX) for r in server.requests if r.method == "PUT"
    )
    assert all(n == 1 for n in aborted.values()), [k for k, n in aborted.items() if n > 1]
    assert {k for k, v in expect_abort.items() if v} == set(aborted)
    assert elapsed < 45, elapsed


# -- the abort hook -----------------------------------------------------------------------------


async def _cancel_after_first_event(client: AsyncFlowise, **options: Any) -> str:
    stream = client.predictions.stream(FLOW_ID, "0 50 20 0", **options)
    first = asyncio.Event()

    async def consume() -> None:
        async with stream:
            async for _ in stream:
                first.set()
                await asyncio.sleep(10)  # a slow consumer, cancelled while it works

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return stream.chat_id


@pytest.mark.async_only  # task cancellation
@pytest.mark.parametrize(
    ("client_default", "per_stream", "expected"),
    [(True, None, 1), (False, True, 1), (True, False, 0), (False, None, 0)],
)
async def test_abort_hook_switch(
    serve: Serve,
    make_client: MakeClient,
    client_default: bool,
    per_stream: bool | None,
    expected: int,
) -> None:
    """abort_on_exit on the client is the default; the stream's own setting overrides it."""
    server = await serve(scripted)
    client = make_client(server.url, abort_on_exit=client_default)
    chat_id = await _cancel_after_first_event(client, abort_on_exit=per_stream)
    await client.aclose()
    assert server.count("PUT", ABORT_PREFIX + chat_id) == expected
    assert server.count("PUT") == expected


@pytest.mark.async_only  # task cancellation
async def test_aclose_waits_for_a_slow_abort(serve: Serve, make_client: MakeClient) -> None:
    """client.aclose() returns only after the abort call was answered; no task is left."""
    answered: list[float] = []

    async def handler(request: Request, conn: Conn) -> bool:
        if request.method == "PUT":
            await asyncio.sleep(0.4)
            answered.append(time.monotonic())  # before the answer: the client cannot have it yet
            await conn.respond(200, ABORTED)
            return True
        return await scripted(request, conn)

    server = await serve(handler)
    client = make_client(server.url, abort_on_exit=True)
    await _cancel_after_first_event(client)
    assert pending_tasks()  # the abort call is in flight
    await client.aclose()
    assert answered
    assert answered[0] <= time.monotonic()
    assert not pending_tasks()
    assert server.count("PUT") == 1


@pytest.mark.async_only  # task cancellation
async def test_abort_is_bounded_when_the_server_never_answers(
    serve: Serve, make_client: MakeClient
) -> None:
    """An abort endpoint that hangs does not hang aclose(): it gives up within the timeouts."""

    async def handler(request: Request, conn: Conn) -> bool:
        if request.method == "PUT":
            await conn.wait_peer_closed(20)
            return False
        return await scripted(request, conn)

    server = await serve(handler)
    client = make_client(
        server.url, abort_on_exit=True, timeouts=Timeouts(connect=1, headers=1, idle=1)
    )
    await _cancel_after_first_event(client)
    started = time.monotonic()
    await client.aclose()
    assert time.monotonic() - started < 6
    assert not pending_tasks()
    assert server.count("PUT") == 1


async def test_no_abort_when_the_stream_ran_to_its_end(
    serve: Serve, make_client: MakeClient
) -> None:
    """A stream read to its end (or failing with an error status) does not call abort."""

    async def handler(request: Request, conn: Conn) -> bool:
        if request.json()["question"] == "missing":
            await conn.respond(404, {"statusCode": 404, "success": False, "message": "nope"})
            return True
        return await scripted(request, conn)

    server = await serve(handler)
    client = make_client(server.url, abort_on_exit=True)
    async with client.predictions.stream(FLOW_ID, "0 3 0 0") as stream:
        texts = [e.text async for e in stream if isinstance(e, TokenEvent)]
    assert texts == ["t0", "t1", "t2"]
    with pytest.raises(NotFoundError):
        async with client.predictions.stream(FLOW_ID, "missing") as stream:
            pass
    await client.aclose()
    assert server.count("PUT") == 0


async def test_abort_once_per_early_exit_by_break(serve: Serve, make_client: MakeClient) -> None:
    """Leaving by break aborts exactly once (a second close does not abort again)."""
    await _abort_once(serve, make_client, "break")


@pytest.mark.async_only  # task cancellation
@pytest.mark.parametrize("how", ["cancel-before-headers", "timeout"])
async def test_abort_once_per_early_exit(serve: Serve, make_client: MakeClient, how: str) -> None:
    """Leaving by a cancel while waiting for the headers, or by a timeout aborts exactly once."""
    await _abort_once(serve, make_client, how)


async def _abort_once(serve: Serve, make_client: MakeClient, how: str) -> None:
    server = await serve(scripted)
    client = make_client(server.url, abort_on_exit=True)
    question = "300 5 10 0" if how == "cancel-before-headers" else "0 20 20 0"
    stream = client.predictions.stream(FLOW_ID, question)
    if how == "break":
        async with stream:
            async for _ in stream:
                break
        await stream.aclose()  # a second close does not abort again
    else:
        limit = 0.1 if how == "cancel-before-headers" else 0.15
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(limit), stream:
                async for _ in stream:
                    pass
    await client.aclose()
    assert server.count("PUT") == 1
    assert server.count("PUT", ABORT_PREFIX + stream.chat_id) == 1
