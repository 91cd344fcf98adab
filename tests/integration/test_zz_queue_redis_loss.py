"""
Queue mode: Redis stopped in the middle of a run.

The main server does not recover its job events when Redis comes back (Flowise #5126: queue
mode waits forever), so this test leaves the line's server unusable. It lives in a module whose
name sorts last, so that it is the queue line's last test (pytest runs a line's tests in module
order and stops the line's servers after its last test); `test_it_is_the_last_queue_test`
checks that order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from flowise_async import APIConnectionError, AsyncFlowise, FlowiseError, StreamError
from flowise_async.events import TokenEvent
from harness.server import RealFlowise
from tests.integration.conftest import QUEUE
from tests.integration.test_queue_mode import EVENT_BOUND, FAULT_TIMEOUTS, IDLE


pytestmark = pytest.mark.integration

LINES = (QUEUE,)


async def test_redis_stopped_mid_stream_ends_in_a_typed_error(
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    make_client: Callable[..., AsyncFlowise],
) -> None:
    """
    With Redis gone mid-run, no event reaches the main server any more: the client ends the
    stream with a typed error (the event bound, or a dropped connection) and never hangs.
    """
    harness = real_flowise.server
    assert harness is not None
    flow_id = chatflows["conversation"]
    tokens: list[str] = []
    loop = asyncio.get_running_loop()
    stopped_at = 0.0
    async with make_client(timeouts=FAULT_TIMEOUTS) as client:
        with pytest.raises(FlowiseError) as info:
            async with client.predictions.stream(
                flow_id, "redis goes away [[words=60]] [[delay=200]]"
            ) as stream:
                async for event in stream:
                    if isinstance(event, TokenEvent) and event.text:
                        tokens.append(event.text)
                        if len(tokens) == 1:
                            harness.stop_redis()
                            stopped_at = loop.time()
        waited = loop.time() - stopped_at
        error = info.value
        assert isinstance(error, APIConnectionError | StreamError), repr(error)
        if getattr(error, "phase", None) is not None:
            assert error.phase == "event", repr(error)  # type: ignore[attr-defined]
            assert f"{EVENT_BOUND} s" in str(error)
        assert 1 <= len(tokens) < 60
        assert waited < IDLE  # the bound, not the idle timeout
        assert client.pool_stats()["acquired"] == 0


def test_it_is_the_last_queue_test(request: pytest.FixtureRequest) -> None:
    """No test of the queue line runs after the Redis loss above (this module sorts last)."""
    items = request.session.items
    queue = [item for item in items if f"[{QUEUE}]" in item.nodeid]
    ours = [item for item in queue if item.module is request.module]
    if ours:
        assert queue[-len(ours) :] == ours, [item.nodeid for item in queue[-5:]]
