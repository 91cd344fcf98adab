"""Queue mode (Redis and workers): faults the harness can cause, and what the client does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from flowise_async import (
    APITimeoutError,
    AsyncFlowise,
    FlowiseError,
    IncompleteStreamError,
    Timeouts,
)
from flowise_async.events import TokenEvent
from harness.fake_llm import echo_reply
from harness.server import RealFlowise
from tests.integration.conftest import QUEUE


pytestmark = pytest.mark.integration

LINES = (QUEUE,)

# The bound on the silence between events in these tests: shorter than the main server's
# 30 s heartbeat, so the bound trips whether or not a heartbeat comes in between. The idle
# timeout is left far above it (and above the heartbeat period), so it is never what trips.
EVENT_BOUND = 6.0
IDLE = 120.0
FAULT_TIMEOUTS = Timeouts(connect=5, headers=30, idle=IDLE, event=EVENT_BOUND)


async def _stream_until_fault(
    client: AsyncFlowise, flow_id: str, question: str, fault: Callable[[], None]
) -> tuple[list[str], BaseException, float]:
    """Stream *question*, call *fault* at the first token; return tokens, error and wait (s)."""
    tokens: list[str] = []
    loop = asyncio.get_running_loop()
    faulted_at = 0.0
    with pytest.raises(FlowiseError) as info:
        async with client.predictions.stream(flow_id, question) as stream:
            async for event in stream:
                if isinstance(event, TokenEvent) and event.text:
                    tokens.append(event.text)
                    if len(tokens) == 1:
                        fault()
                        faulted_at = loop.time()
    return tokens, info.value, loop.time() - faulted_at


async def test_workers_killed_mid_stream_end_in_the_event_timeout_then_recover(
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    make_client: Callable[..., AsyncFlowise],
) -> None:
    """
    With every worker killed mid-run the main server sends no event any more (only its
    heartbeat comment every 30 s): the event bound ends the stream with
    APITimeoutError(phase="event") long before the idle timeout, never a hang. Restarted
    workers serve the next prediction.
    """
    harness = real_flowise.server
    assert harness is not None
    assert len(harness.worker_pids) == 2
    flow_id = chatflows["conversation"]

    def kill_workers() -> None:
        for index in range(2):
            harness.kill_worker(index)

    async with make_client(timeouts=FAULT_TIMEOUTS) as client:
        try:
            tokens, error, waited = await _stream_until_fault(
                client, flow_id, "killed worker [[words=60]] [[delay=200]]", kill_workers
            )
            assert isinstance(error, APITimeoutError), repr(error)
            assert error.phase == "event"
            assert f"{EVENT_BOUND} s" in str(error)
            assert harness.worker_pids == []
            assert 1 <= len(tokens) < 60
            # The bound, not the idle timeout (120 s) nor a server that gave up.
            assert waited < IDLE
            assert client.pool_stats()["acquired"] == 0
        finally:
            for index in range(2):
                harness.restart_worker(index)
        assert len(harness.worker_pids) == 2
        question = "after the restart [[words=3]]"
        prediction = await client.predictions.create(flow_id, question)
        assert prediction.text == echo_reply(question)
        assert client.pool_stats()["acquired"] == 0


async def _answer_after_recovery(client: AsyncFlowise, flow_id: str, question: str) -> str:
    """The answer of a prediction once the servers have reconnected (bounded attempts)."""
    last: BaseException | None = None
    for _ in range(20):
        try:
            prediction = await client.predictions.create(
                flow_id, question, timeouts=Timeouts(headers=30, idle=30)
            )
        except FlowiseError as exc:
            last = exc
            await asyncio.sleep(3)
            continue
        return prediction.text
    raise AssertionError(f"no answer after Redis came back: {last!r}")


async def test_redis_stopped_mid_stream_ends_in_a_typed_error_then_recovers(
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    make_client: Callable[..., AsyncFlowise],
) -> None:
    """
    Redis killed mid-run: the worker's events have nowhere to go and the main server waits for
    a job it can no longer see. The client ends the stream with a typed error within the event
    bound (a timeout, or a dropped connection if the server closes it), never a hang. With Redis
    back (and the workers restarted), the main server serves the next prediction.
    """
    harness = real_flowise.server
    assert harness is not None
    assert harness.redis_running()
    flow_id = chatflows["conversation"]
    async with make_client(timeouts=FAULT_TIMEOUTS) as client:
        try:
            tokens, error, waited = await _stream_until_fault(
                client, flow_id, "redis gone [[words=60]] [[delay=200]]", harness.stop_redis
            )
            assert isinstance(error, (APITimeoutError, IncompleteStreamError)), repr(error)
            if isinstance(error, APITimeoutError):
                assert error.phase == "event"
            assert not harness.redis_running()
            assert 1 <= len(tokens) < 60
            assert waited < IDLE
            assert client.pool_stats()["acquired"] == 0
        finally:
            # An empty Redis comes back: the main server reconnects on its own, but the
            # workers' BullMQ consumers do not pick jobs up again; restart them.
            harness.restart_redis()
            for index in range(2):
                harness.restart_worker(index)
        assert harness.redis_running()
        assert len(harness.worker_pids) == 2
        question = "after redis came back [[words=3]]"
        assert await _answer_after_recovery(client, flow_id, question) == echo_reply(question)
        assert client.pool_stats()["acquired"] == 0
