"""Queue mode (Redis and workers): faults the harness can cause, and what the client does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from flowise_async import (
    APITimeoutError,
    AsyncFlowise,
    FlowiseError,
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
