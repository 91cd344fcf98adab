"""Prediction.status and Prediction.usage: how a run ended and what it cost, never guessed."""

from __future__ import annotations

from typing import Any

import pytest

from flowise_async import AsyncFlowise, Prediction, RunStatus, Usage
from flowise_async._convert import unstructure
from flowise_async.mock import MockRequest, MockResponse, MockTransport


BASE = "http://flowise.test"


def _node(node_id: str, usage: dict[str, Any] | None) -> dict[str, Any]:
    output: dict[str, Any] = {"content": "x"}
    if usage is not None:
        output["usageMetadata"] = usage
    return {
        "nodeId": node_id,
        "nodeLabel": node_id,
        "data": {"output": output},
        "status": "FINISHED",
    }


async def _create(answer: dict[str, Any]) -> Prediction:
    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, json=answer)

    async with AsyncFlowise(BASE, transport=MockTransport(handler)) as flowise:
        return await flowise.predictions.create("f", "q")


def test_usage_total_sums_what_the_calls_report() -> None:
    """Counts add up; a count no call reported stays None; one call is kept as it is."""
    one = Usage(input_tokens=3, output_tokens=2, total_tokens=5, extra={"input_cost": 0.1})
    assert Usage.total([]) is None
    assert Usage.total([one]) is one
    total = Usage.total([one, Usage(input_tokens=1, output_tokens=1, total_tokens=2)])
    assert total == Usage(input_tokens=4, output_tokens=3, total_tokens=7)
    partial = Usage.total([Usage(input_tokens=2), Usage(output_tokens=5)])
    assert partial == Usage(input_tokens=2, output_tokens=5, total_tokens=7)
    assert Usage.total([Usage(input_tokens=2), Usage(input_tokens=1)]) == Usage(input_tokens=3)


async def test_a_plain_answer_is_complete_without_usage() -> None:
    """A classic chatflow's JSON answer: COMPLETE, usage None (the server reports none)."""
    prediction = await _create({"text": "hi", "chatId": "c"})
    assert prediction.status is RunStatus.COMPLETE
    assert prediction.ok
    assert prediction.error is None
    assert prediction.usage is None


async def test_an_agent_flow_answer_sums_its_nodes_usage() -> None:
    """The usage of a JSON answer is the sum over its node states' usageMetadata."""
    nodes = [
        _node("llm_0", {"input_tokens": 10, "output_tokens": 4, "total_tokens": 14}),
        _node("start_0", None),
        _node("agent_0", {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}),
    ]
    prediction = await _create({"text": "hi", "agentFlowExecutedData": nodes})
    assert prediction.usage == Usage(input_tokens=17, output_tokens=7, total_tokens=24)
    assert prediction.status is RunStatus.COMPLETE


async def test_an_answer_with_an_action_waits_for_input() -> None:
    """A run stopped for human approval is WAITING_FOR_INPUT, not complete."""
    action = {"id": "a1", "mapping": {"approve": "Proceed", "reject": "Reject"}, "elements": []}
    prediction = await _create({"text": "", "action": action})
    assert prediction.status is RunStatus.WAITING_FOR_INPUT
    assert not prediction.ok


@pytest.mark.parametrize("field", ["status", "error", "usage"])
def test_derived_fields_are_not_read_from_or_written_to_the_wire(field: str) -> None:
    """A server field named status/usage stays in extra; the client's own are not encoded."""
    from flowise_async._convert import structure_prediction

    prediction = structure_prediction({"text": "t", field: "server value"})
    assert prediction.extra == {field: "server value"}
    assert prediction.status is RunStatus.COMPLETE
    wire = unstructure(Prediction(text="t", status=RunStatus.FAILED))
    assert "status" not in wire
    assert "usage" not in wire
