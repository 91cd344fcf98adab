"""Timeouts and connection reuse against a real Flowise (Node.js) server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from flowise_async import APITimeoutError, AsyncFlowise, Timeouts
from flowise_async.events import Event, StartEvent


pytestmark = pytest.mark.integration

MakeClient = Callable[..., AsyncFlowise]


async def test_idle_timeout_ends_a_stream_that_goes_silent(
    make_client: MakeClient, chatflows: dict[str, str]
) -> None:
    """A model pausing 4 s between tokens trips a 1 s idle timeout after the start event."""
    received: list[Event] = []
    started = 0.0
    async with make_client(timeouts=Timeouts(connect=5, headers=30, idle=1)) as client:
        with pytest.raises(APITimeoutError):
            async with client.predictions.stream(
                chatflows["conversation"], "slow answer [[delay=4000]]"
            ) as stream:
                async for event in stream:
                    received.append(event)
                    started = time.monotonic()  # the silence starts after the start event
        elapsed = time.monotonic() - started
    assert [type(event) for event in received] == [StartEvent]
    assert elapsed < 4  # ended by the 1 s idle timeout, not by the token 4 s later


async def test_connections_are_reused_across_the_servers_keep_alive_window(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """Node closes idle sockets after 5 s; calls before and after such a pause both succeed."""
    flow_id = chatflows["conversation"]
    first = await client.predictions.create(flow_id, "before the pause")
    assert client.pool_stats()["idle"] >= 1  # kept for reuse
    again = await client.predictions.create(flow_id, "right after")
    await asyncio.sleep(6.5)  # longer than the server's keep-alive timeout
    after = await client.predictions.create(flow_id, "after the pause")
    async with client.predictions.stream(flow_id, "and a stream") as stream:
        streamed = await stream.final()
    assert [first.text, again.text, after.text, streamed.text] == [
        "Echo: before the pause",
        "Echo: right after",
        "Echo: after the pause",
        "Echo: and a stream",
    ]
    assert client.pool_stats()["acquired"] == 0
