"""Leaving a stream early asks the real server to abort the run."""

from __future__ import annotations

import asyncio
import time
import types
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from flowise_async import AsyncFlowise
from flowise_async.events import TokenEvent
from harness.server import RealFlowise
from tests.integration.conftest import QUEUE


pytestmark = pytest.mark.integration

LINES = ("3.1.4", QUEUE)

Seen = list[tuple[str, str, int]]
MakeClient = Callable[..., AsyncFlowise]


@pytest.fixture
async def traced_session() -> AsyncIterator[tuple[aiohttp.ClientSession, Seen]]:
    """An aiohttp session lent to the client, recording (method, path, status) of each answer."""
    seen: Seen = []

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: types.SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        seen.append((params.method, params.url.path, params.response.status))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield session, seen


async def _leave_after_first_token(client: AsyncFlowise, flow_id: str, question: str) -> str:
    async with client.predictions.stream(flow_id, question) as stream:
        async for event in stream:
            if isinstance(event, TokenEvent) and event.text:
                break
        else:
            pytest.fail("the stream ended before its first token")
    return stream.chat_id


async def _llm_request(real: RealFlowise, marker: str, settle: float) -> dict[str, Any]:
    """Wait (bounded) until the fake model's request for *marker* has finished either way."""
    deadline = time.monotonic() + settle
    while True:
        mine = [
            request
            for request in await asyncio.to_thread(real.llm_requests)
            if marker in str(request.get("body"))
        ]
        if mine and (mine[-1]["complete"] or mine[-1]["disconnected"]):
            return mine[-1]
        if time.monotonic() > deadline:
            pytest.fail(f"the model request for {marker} did not finish within {settle} s: {mine}")
        await asyncio.sleep(0.1)


async def test_leaving_an_agentflow_stream_early_aborts_the_run(
    real_flowise: RealFlowise,
    make_client: MakeClient,
    chatflows: dict[str, str],
    traced_session: tuple[aiohttp.ClientSession, Seen],
) -> None:
    """abort_on_exit sends PUT .../chatmessage/abort/{flow}/{chat}; 200; the model call stops."""
    session, seen = traced_session
    flow_id = chatflows["agentflow"]
    marker = f"abort-{uuid.uuid4()}"
    async with make_client(session=session, abort_on_exit=True) as client:
        chat_id = await _leave_after_first_token(
            client, flow_id, f"{marker} [[words=80]] [[delay=100]]"
        )
        await client.wait_for_aborts()

    assert ("PUT", f"/api/v1/chatmessage/abort/{flow_id}/{chat_id}", 200) in seen
    # 80 tokens at 100 ms would take 8 s; the abort cancels the model call well before.
    request = await _llm_request(real_flowise, marker, settle=6)
    assert request["disconnected"] is True
    assert request["complete"] is False


async def test_leaving_a_stream_early_without_abort_on_exit_sends_no_abort(
    real_flowise: RealFlowise,
    make_client: MakeClient,
    chatflows: dict[str, str],
    traced_session: tuple[aiohttp.ClientSession, Seen],
) -> None:
    """Control: with abort_on_exit off no abort call is made and the model call completes."""
    session, seen = traced_session
    marker = f"no-abort-{uuid.uuid4()}"
    async with make_client(session=session, abort_on_exit=False) as client:
        await _leave_after_first_token(
            client, chatflows["agentflow"], f"{marker} [[words=15]] [[delay=100]]"
        )
        await client.wait_for_aborts()

    assert not [entry for entry in seen if entry[0] == "PUT"]
    request = await _llm_request(real_flowise, marker, settle=15)
    assert request["complete"] is True


async def test_abort_is_sent_for_a_chatflow_stream_left_early_but_not_after_the_end(
    real_flowise: RealFlowise,
    make_client: MakeClient,
    chatflows: dict[str, str],
    traced_session: tuple[aiohttp.ClientSession, Seen],
) -> None:
    """The per-stream switch sends the abort for a chatflow too (200); a finished stream none."""
    session, seen = traced_session
    flow_id = chatflows["conversation"]
    async with make_client(session=session) as client:
        async with client.predictions.stream(flow_id, "complete run", abort_on_exit=True) as stream:
            finished = [event async for event in stream]
        async with client.predictions.stream(
            flow_id, "left early [[words=30]] [[delay=50]]", abort_on_exit=True
        ) as early:
            async for event in early:
                if isinstance(event, TokenEvent) and event.text:
                    break
        await client.wait_for_aborts()

    assert finished
    puts = [entry for entry in seen if entry[0] == "PUT"]
    assert puts == [("PUT", f"/api/v1/chatmessage/abort/{flow_id}/{early.chat_id}", 200)]
