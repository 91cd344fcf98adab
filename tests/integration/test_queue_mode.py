"""Queue mode (Redis and workers): faults the harness can cause, and what the client does."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flowise_async import APITimeoutError, AsyncFlowise, Timeouts
from flowise_async.events import TokenEvent
from harness.fake_llm import echo_reply
from harness.server import RealFlowise
from tests.integration.conftest import QUEUE


pytestmark = pytest.mark.integration

LINES = (QUEUE,)


async def test_workers_killed_mid_stream_end_in_the_idle_timeout_then_recover(
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    make_client: Callable[..., AsyncFlowise],
) -> None:
    """
    With every worker killed mid-run the main server sends nothing more (its heartbeat comes
    every 30 s): a short idle timeout ends the stream with APITimeoutError, never a hang.
    Restarted workers serve the next prediction.
    """
    harness = real_flowise.server
    assert harness is not None
    assert len(harness.worker_pids) == 2
    flow_id = chatflows["conversation"]
    tokens: list[str] = []
    async with make_client(timeouts=Timeouts(connect=5, headers=30, idle=5)) as client:
        with pytest.raises(APITimeoutError) as info:
            async with client.predictions.stream(
                flow_id, "killed worker [[words=60]] [[delay=200]]"
            ) as stream:
                async for event in stream:
                    if isinstance(event, TokenEvent) and event.text:
                        tokens.append(event.text)
                        if len(tokens) == 1:
                            for index in range(2):
                                harness.kill_worker(index)
        assert info.value.phase == "idle"
        assert harness.worker_pids == []
        assert 1 <= len(tokens) < 60
        for index in range(2):
            harness.restart_worker(index)
        assert len(harness.worker_pids) == 2
        question = "after the restart [[words=3]]"
        prediction = await client.predictions.create(flow_id, question)
        assert prediction.text == echo_reply(question)
        assert client.pool_stats()["acquired"] == 0
