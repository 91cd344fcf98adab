"""OpenTelemetry against a real Flowise: an agent flow, a retrieval flow, interrupted streams."""

from __future__ import annotations

import asyncio
import gc
import random
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest


pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from flowise_async import AsyncFlowise, FlowiseError
from flowise_async import events as ev
from harness.fake_llm import echo_reply, tokens_of
from tests.unit.test_otel import Telemetry


pytestmark = pytest.mark.integration

LINES = ("3.1.4",)  # the agent flow of the tests needs 3.x; the instrumentation is client-side


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    with Telemetry() as found:
        yield found
    found.assert_all_ended_once()


async def test_a_streamed_agent_flow_run_is_one_span_with_its_usage_and_chunks(
    client: AsyncFlowise, chatflows: dict[str, str], telemetry: Telemetry
) -> None:
    question = f"otel agent {uuid.uuid4().hex[:8]} [[words=6]] [[delay=20]]"
    flow = chatflows["agentflow"]
    async with client.predictions.stream(flow, question) as stream:
        events = [event async for event in stream]
    reply = echo_reply(question)
    assert "".join(e.text for e in events if isinstance(e, ev.TokenEvent)) == reply
    usage = [e for e in events if isinstance(e, ev.UsageMetadataEvent)]
    assert usage
    span = telemetry.span()
    assert span.name == f"invoke_agent {flow}"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.conversation.id"] == stream.chat_id
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["flowise.stream.outcome"] == "end"
    assert attributes["http.response.status_code"] == 200
    assert attributes["gen_ai.usage.output_tokens"] == sum(u.output_tokens or 0 for u in usage)
    assert attributes["gen_ai.usage.output_tokens"] == len(tokens_of(reply))
    assert attributes["gen_ai.usage.input_tokens"] == sum(u.input_tokens or 0 for u in usage)
    (first,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    # The model waits 20 ms before each token: most arrive in reads of their own.
    token_events = sum(isinstance(e, ev.TokenEvent) for e in events)
    assert len(tokens_of(reply)) // 2 <= per_chunk.count <= token_events - 1
    assert per_chunk.sum >= 0.01 * per_chunk.count
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens["output"] == len(tokens_of(reply))


async def test_a_whole_agent_flow_answer_gives_the_usage_of_its_nodes(
    client: AsyncFlowise, chatflows: dict[str, str], telemetry: Telemetry
) -> None:
    question = f"otel create {uuid.uuid4().hex[:8]}"
    prediction = await client.predictions.create(chatflows["agentflow"], question)
    assert prediction.usage is not None
    attributes = dict(telemetry.span().attributes or {})
    assert attributes["gen_ai.conversation.id"] == prediction.chat_id
    assert attributes["gen_ai.request.stream"] is False
    assert attributes["gen_ai.usage.output_tokens"] == prediction.usage.output_tokens
    assert attributes["flowise.run.status"] == "complete"


async def test_a_retrieval_flow_and_other_calls(
    client: AsyncFlowise, chatflows: dict[str, str], telemetry: Telemetry
) -> None:
    flow = chatflows["retrieval"]
    await client.chatflows.get(flow)
    with pytest.raises(FlowiseError):
        await client.chatflows.get(str(uuid.uuid4()))
    prediction = await client.predictions.create(flow, "What is the capital of France?")
    async with client.predictions.stream(flow, "What is the capital of Spain?") as stream:
        streamed = await stream.final()
    assert prediction.text
    assert streamed.text
    spans = telemetry.spans()
    names = [s.name for s in spans]
    assert names == [
        "GET /api/v1/chatflows/{chatflow_id}",
        "GET /api/v1/chatflows/{chatflow_id}",
        f"invoke_agent {flow}",
        f"invoke_agent {flow}",
    ]
    ok, failed, created, stream_span = spans
    assert ok.attributes["http.response.status_code"] == 200  # type: ignore[index]
    assert failed.attributes["error.type"]  # type: ignore[index]
    assert failed.attributes["http.response.status_code"] >= 400  # type: ignore[index,operator]
    assert created.attributes["gen_ai.conversation.id"] == prediction.chat_id  # type: ignore[index]
    assert stream_span.attributes["gen_ai.conversation.id"] == stream.chat_id  # type: ignore[index]
    assert stream_span.attributes["flowise.stream.outcome"] == "end"  # type: ignore[index]
    assert not any("traceparent" in str(s.attributes) for s in spans)


@pytest.mark.timeout(240)
async def test_interrupted_real_streams_leave_no_span_open(
    make_client: Callable[..., AsyncFlowise], chatflows: dict[str, str]
) -> None:
    """Cancel, break, aclose, time out or abandon real streams at random points: 0 open."""
    rng = random.Random(99)
    flow = chatflows["agentflow"]
    with Telemetry() as telemetry:
        async with make_client(abort_on_exit=False) as client:

            async def consume(mode: str, after: int) -> None:
                stream = client.predictions.stream(flow, "storm [[words=12]] [[delay=10]]")
                if mode == "abandon":
                    await stream.__anext__()
                    return
                async with stream:
                    seen = 0
                    async for _ in stream:
                        seen += 1
                        if seen >= after and mode == "break":
                            break
                        if seen >= after and mode == "aclose":
                            await stream.aclose()
                            return

            modes = ["cancel", "break", "aclose", "timeout", "abandon", "end"]
            with warnings.catch_warnings():  # abandoned streams warn when collected
                warnings.simplefilter("ignore", ResourceWarning)
                for _ in range(8):
                    tasks: list[asyncio.Task[Any]] = []
                    for _ in range(8):
                        mode = rng.choice(modes)
                        coro = consume(mode, rng.randint(0, 15))
                        if mode == "timeout":
                            coro = asyncio.wait_for(coro, rng.uniform(0.05, 0.4))
                        tasks.append(asyncio.create_task(coro))
                        if mode == "cancel":
                            asyncio.get_running_loop().call_later(
                                rng.uniform(0, 0.3), tasks[-1].cancel
                            )
                    await asyncio.gather(*tasks, return_exceptions=True)
                    del tasks
                    gc.collect()
            assert client.pool_stats()["acquired"] == 0
    telemetry.assert_all_ended_once()
    assert len(telemetry.spans()) >= 48
