"""Answering a waiting run from a terminal (``flowise-async predict``'s approve/reject prompt)."""

from __future__ import annotations

import io
from collections.abc import Iterable

import pytest

from flowise_async import AsyncFlowise
from flowise_async._convert import structure
from flowise_async._interactive import Ask, answer_waiting_run
from flowise_async.models import Action
from tests.unit.test_agentflows import ACTION
from tests.unit.test_chat_sessions import FLOW, _Flowise, fake


__all__ = ["fake"]


def answers(*lines: str | None) -> tuple[Ask, list[str]]:
    """An Ask that replays *lines* and records the prompts."""
    queue: list[str | None] = list(lines)
    prompts: list[str] = []

    async def ask(prompt: str) -> str | None:
        prompts.append(prompt)
        return queue.pop(0) if queue else None

    return ask, prompts


def _action(**input_fields: object) -> Action:
    data = {**ACTION["data"], "input": input_fields}  # type: ignore[dict-item]
    return structure({**ACTION, "data": data}, Action)


async def test_proceed_with_feedback_resumes_and_prints(
    fake: tuple[_Flowise, AsyncFlowise],
) -> None:
    """p + a feedback line resume the run; its answer is printed, prompts go to err."""
    server, flowise = fake
    server.answers.append({"text": "Echo: go ahead"})
    ask, prompts = answers("p", "go ahead")
    out, err = io.StringIO(), io.StringIO()
    left = await answer_waiting_run(
        flowise,
        FLOW,
        "c1",
        _action(humanInputEnableFeedback=True),
        stream=False,
        out=out,
        err=err,
        ask=ask,
    )
    assert left is None
    assert out.getvalue() == "Echo: go ahead\n"
    assert "Proceed" in prompts[0]
    assert "Reject" in prompts[0]
    assert "Human Input" in err.getvalue()
    assert server.bodies[-1]["humanInput"] == {
        "type": "proceed",
        "startNodeId": "humanInputAgentflow_0",
        "feedback": "go ahead",
    }


@pytest.mark.parametrize("lines", [["q"], [""], [None], ["maybe", "q"]])
async def test_leaving_the_run_waiting(
    fake: tuple[_Flowise, AsyncFlowise], lines: Iterable[str | None]
) -> None:
    """q, an empty line or the end of input send nothing and say how to resume later."""
    server, flowise = fake
    ask, _ = answers(*lines)
    err = io.StringIO()
    left = await answer_waiting_run(
        flowise, FLOW, "c1", _action(), out=io.StringIO(), err=err, ask=ask
    )
    assert left is not None
    assert "left waiting" in err.getvalue()
    assert "c1" in err.getvalue()
    assert not server.bodies


async def test_streamed_reject_until_the_run_stops_again(
    fake: tuple[_Flowise, AsyncFlowise],
) -> None:
    """A streamed resume prints tokens; a run that stops again is asked again."""
    server, flowise = fake
    ask, prompts = answers("r", "q")
    out = io.StringIO()
    left = await answer_waiting_run(
        flowise, FLOW, "c1", _action(), out=out, err=io.StringIO(), ask=ask
    )
    # The fake answers every streamed request with a run that stops again.
    assert left is not None
    assert out.getvalue() == "hello\n\nShall I?\n"
    assert len(prompts) == 2  # no feedback prompt: feedback is off
    assert server.bodies[0]["humanInput"] == {
        "type": "reject",
        "startNodeId": "humanInputAgentflow_0",
    }


async def test_nothing_to_answer_or_no_chat(fake: tuple[_Flowise, AsyncFlowise]) -> None:
    """No action: nothing is asked; no chat id: the run cannot be resumed and is left."""
    server, flowise = fake
    ask, prompts = answers("p")
    assert await answer_waiting_run(flowise, FLOW, "c1", None, ask=ask) is None
    assert prompts == []
    err = io.StringIO()
    left = await answer_waiting_run(flowise, FLOW, None, _action(), err=err, ask=ask)
    assert left is not None
    assert "left waiting" in err.getvalue()
    assert not server.bodies
