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


def _history(answer: dict[str, Any], messages: list[dict[str, Any]]) -> MockTransport:
    def handler(request: MockRequest) -> MockResponse:
        if request.path.startswith("/api/v1/chatmessage/"):
            return MockResponse(200, json=messages)
        return MockResponse(200, json=answer)

    return MockTransport(handler)


async def test_an_empty_answer_is_no_answer_and_is_recovered_from_history() -> None:
    """An answer without text is NO_ANSWER; recover_from_history reads the stored answer."""
    answer = {"text": "", "chatId": "c1", "chatMessageId": "m2"}
    messages = [
        {"id": "m9", "role": "apiMessage", "content": "another answer"},
        {"id": "m2", "role": "apiMessage", "content": "The stored answer"},
        {"id": "m1", "role": "userMessage", "content": "q"},
    ]
    mock = _history(answer, messages)
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        plain = await flowise.predictions.create("f", "q")
        assert len(mock.requests) == 1
        fixed = await flowise.predictions.create("f", "q", recover_from_history=True)
    assert plain.status is RunStatus.NO_ANSWER
    assert not plain.ok
    assert (fixed.status, fixed.text) == (RunStatus.COMPLETE, "The stored answer")
    lookup = mock.requests[-1]
    assert lookup.path == "/api/v1/chatmessage/f"
    assert lookup.query == {"chatId": "c1", "order": "DESC", "messageId": "m2"}


async def test_recovery_without_a_stored_answer_keeps_no_answer() -> None:
    """Nothing stored (or only the question): the prediction stays NO_ANSWER, never COMPLETE."""
    mock = _history({"text": "", "chatId": "c1"}, [{"id": "m1", "role": "userMessage"}])
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        prediction = await flowise.predictions.create("f", "q", recover_from_history=True)
        complete = await flowise.predictions.recover("f", Prediction(text="done", chat_id="c"))
    assert prediction.status is RunStatus.NO_ANSWER
    assert complete.text == "done"
    assert len(mock.requests) == 2  # the complete prediction needed no lookup
