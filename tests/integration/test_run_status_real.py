"""Run status and token usage against the real Flowise: what the server reports, summed."""

from __future__ import annotations

import pytest

from flowise_async import AsyncFlowise, RunStatus
from harness.fake_llm import echo_reply


pytestmark = pytest.mark.integration


async def test_an_agent_flow_reports_its_usage_streamed_and_not(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """The LLM node's usageMetadata arrives as Prediction.usage, streamed or in one answer."""
    flow = chatflows["agentflow"]
    async with client.predictions.stream(flow, "usage please") as stream:
        streamed = await stream.final()
    answered = await client.predictions.create(flow, "usage please")
    for prediction in (streamed, answered):
        assert prediction.status is RunStatus.COMPLETE
        assert prediction.text == echo_reply("usage please")
        usage = prediction.usage
        assert usage is not None
        assert usage.input_tokens
        assert usage.output_tokens
        assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    counts = [
        (u.input_tokens, u.output_tokens, u.total_tokens)
        for u in (streamed.usage, answered.usage)
        if u is not None
    ]
    assert counts[0] == counts[1]  # the JSON answer's usage also carries costs in extra


async def test_a_classic_chatflow_completes_without_usage(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """A classic chatflow reports no usage: None, and COMPLETE, streamed or not."""
    flow = chatflows["conversation"]
    async with client.predictions.stream(flow, "hello") as stream:
        streamed = await stream.final()
    answered = await client.predictions.create(flow, "hello")
    assert (streamed.status, streamed.usage) == (RunStatus.COMPLETE, None)
    assert (answered.status, answered.usage) == (RunStatus.COMPLETE, None)
