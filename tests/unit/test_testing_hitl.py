"""
FakeFlowise's agent flows that wait for a person, checked against the bytes of real servers.

``tests/integration/wire/<line>-hitl-*`` hold what Flowise 3.0.13 and 3.1.4 answered to the
script of ``tests/_hitl_wire.py`` (``tests/integration/test_hitl_wire.py`` captures them). The
fake, speaking each line, answers the same script: the same statuses, the same events in the
same order (a run of tokens counts once: the model splits text its own way), and payloads of
the same shape (keys and value types, a few levels deep).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowise_async import AsyncFlowise, NotFoundError, NotWaitingError
from flowise_async.events import (
    ActionEvent,
    AgentFlowEventEvent,
    AgentFlowExecutedDataEvent,
    NextAgentFlowEvent,
)
from flowise_async.models import ExecutionState
from flowise_async.testing import FakeFlowise
from tests import _hitl_wire as hw


LINES = ("3.0.13", "3.1.4")


def skeleton(value: Any, depth: int) -> Any:
    """Keys and JSON types of *value*, *depth* levels deep (JSON text counts as its value)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            value = json.loads(value)
        except ValueError:
            return "string"
    if isinstance(value, dict):
        if depth <= 0:
            return "object"
        return {key: skeleton(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list):
        if depth <= 0:
            return "array"
        return [skeleton(item, depth - 1) for item in value]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "null"


def collapsed_names(body: bytes) -> list[str]:
    """The event names of a stream, a run of ``token`` events counted once."""
    names: list[str] = []
    for name in hw.event_names(body):
        if not (name == "token" and names and names[-1] == "token"):
            names.append(name)
    return names


def stream_outline(body: bytes) -> list[Any]:
    """The shapes of a stream's payloads, tokens left out (their split is the model's)."""
    return [
        skeleton(payload, 4) for payload in hw.stream_payloads(body) if payload["event"] != "token"
    ]


@pytest.fixture(scope="module", params=LINES)
def line(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _fake_capture(line: str) -> dict[str, hw.Captured]:
    async with FakeFlowise(server_version=line) as server:
        server.agentflow("flow-hitl")
        return await hw.capture_hitl(server.url, "flow-hitl")


async def test_the_captures_of_both_lines_are_kept(line: str) -> None:
    """Every capture of the script exists for the line (a lost file fails here)."""
    stored = hw.load(line)
    assert set(stored) == set(hw.NAMES)
    assert hw.event_names(stored["stopped"].body)[-3:] == ["agentFlowEvent", "metadata", "end"]


async def test_fake_answers_the_script_as_the_real_line_did(line: str) -> None:
    """Statuses, content types, event order and payload shapes match the real line's."""
    real = hw.load(line)
    fake = await _fake_capture(line)
    for name in hw.NAMES:
        assert fake[name].status == real[name].status, name
        assert fake[name].content_type == real[name].content_type, name
        if name in hw.STREAMED:
            assert collapsed_names(fake[name].body) == collapsed_names(real[name].body), name
            assert stream_outline(fake[name].body) == stream_outline(real[name].body), name
        else:
            assert skeleton(fake[name].decoded(), 4) == skeleton(real[name].decoded(), 4), name


async def test_fake_writes_each_lines_frame_prefixes(line: str) -> None:
    """Before 3.1.2 the error and end frames have no colon after ``message``, as captured."""
    real = hw.load(line)
    fake = await _fake_capture(line)
    for name in hw.STREAMED:
        real_prefixes = [frame.split(b"\n", 1)[0] for frame in real[name].body.split(b"\n\n")]
        fake_prefixes = [frame.split(b"\n", 1)[0] for frame in fake[name].body.split(b"\n\n")]
        assert set(fake_prefixes) == set(real_prefixes), name


async def test_not_waiting_messages_are_flowise_s(line: str) -> None:
    """The "cannot resume" texts are the real ones, ids aside."""
    real = hw.load(line)
    fake = await _fake_capture(line)
    for name in ("not-waiting-plain", "no-run-plain"):
        real_words = real[name].decoded()["message"].split()
        fake_words = fake[name].decoded()["message"].split()
        assert len(fake_words) == len(real_words), name
        differing = [(a, b) for a, b in zip(real_words, fake_words, strict=True) if a != b]
        assert len(differing) <= 1, differing  # the execution id or the session id


# -- through the client -------------------------------------------------------------------


async def test_a_streamed_run_stops_and_proceeds_with_feedback() -> None:
    """run -> action and a STOPPED execution -> proceed with feedback -> FINISHED."""
    async with FakeFlowise() as server, server.client() as flowise:
        flow = server.agentflow("flow", description="Send it?")
        assert flow.feedback is True
        async with flowise.predictions.stream("flow", "Send the report") as stream:
            events = [event async for event in stream]
        action = stream.pending_action
        assert action is not None
        assert (action.node_id, action.node_label) == ("humanInputAgentflow_0", "Human Input")
        assert (action.approve_label, action.reject_label) == ("Proceed", "Reject")
        assert action.feedback_enabled is True
        assert stream.text == "\n\nSend it?"
        stop = next(
            i
            for i, e in enumerate(events)
            if isinstance(e, NextAgentFlowEvent) and e.status == "STOPPED"
        )
        assert isinstance(events[stop + 1], AgentFlowExecutedDataEvent)
        assert events[stop + 2] == AgentFlowEventEvent(state="STOPPED")
        assert events[stop + 3] == ActionEvent(action=action)

        execution = await flowise.executions.for_chat("flow", stream.chat_id)
        assert execution is not None
        assert execution.state is ExecutionState.STOPPED
        assert execution.action is None  # 3.1.4 leaves the column empty
        assert execution.pending_action == action

        async with flowise.predictions.resume_stream(
            "flow", stream.chat_id, "proceed", feedback="today", action=action
        ) as resumed:
            assert (await resumed.final()).text == "Echo: today"
        assert resumed.pending_action is None
        finished = await flowise.executions.get(execution.id)
        assert finished.state is ExecutionState.FINISHED
        assert [n.node_id for n in finished.execution_data] == [
            "startAgentflow_0",
            "humanInputAgentflow_0",
            "llmAgentflow_0",
        ]
        resume = server.predictions[-1].json
        assert resume["humanInput"]["feedback"] == "today"


async def test_a_plain_run_stops_and_is_rejected() -> None:
    """A whole answer carries the action and execution id; reject takes the reject branch."""
    async with FakeFlowise() as server, server.client() as flowise:
        server.agentflow("flow", rejected="No.", feedback=False)
        answer = await flowise.predictions.create("flow", "Delete it")
        assert answer.pending_action is not None
        assert answer.pending_action.feedback_enabled is False
        assert answer.execution_id == server.executions[0]["id"]
        with pytest.raises(ValueError, match="feedback"):
            await flowise.predictions.resume(
                "flow", answer.chat_id or "", "reject", feedback="x", action=answer.pending_action
            )
        done = await flowise.predictions.resume("flow", answer.chat_id or "", "reject")
        assert done.text == "No."
        assert done.pending_action is None
        assert server.executions[0]["state"] == "FINISHED"


async def test_resume_of_a_chat_that_is_not_waiting_is_not_waiting_error() -> None:
    """A finished run or a chat that never ran: NotWaitingError, plain and streamed."""
    async with FakeFlowise() as server, server.client() as flowise:
        server.agentflow("flow", answer="Done.")
        first = await flowise.predictions.create("flow", "Book it")
        chat_id = first.chat_id or ""
        assert (await flowise.predictions.resume("flow", chat_id, "proceed")).text == "Done."
        with pytest.raises(NotWaitingError) as plain:
            await flowise.predictions.resume("flow", chat_id, "proceed")
        assert plain.value.state == "FINISHED"
        async with flowise.predictions.resume_stream("flow", chat_id, "reject") as stream:
            with pytest.raises(NotWaitingError) as streamed:
                await stream.final()
        assert streamed.value.state == "FINISHED"
        with pytest.raises(NotWaitingError) as unknown:
            await flowise.predictions.resume("flow", "never-ran")
        assert unknown.value.state is None
        async with flowise.predictions.resume_stream("flow", "never-ran") as stream:
            with pytest.raises(NotWaitingError):
                await stream.final()


async def test_executions_routes_over_the_fake_runs() -> None:
    """list (filters, pages), iter, get, for_chat, update, get_public, delete, delete_many."""
    async with FakeFlowise() as server, server.client() as flowise:
        server.agentflow("flow")
        server.agentflow("other")
        waiting = await flowise.predictions.create("flow", "one")
        done = await flowise.predictions.create("flow", "two")
        await flowise.predictions.resume("flow", done.chat_id or "", "reject")
        await flowise.predictions.create("other", "three")

        page = await flowise.executions.list(agentflow_id="flow")
        assert page.total == 2
        assert [e.session_id for e in page.items] == [done.chat_id, waiting.chat_id]
        stopped = await flowise.executions.list(agentflow_id="flow", state="STOPPED")
        assert [e.session_id for e in stopped.items] == [waiting.chat_id]
        assert stopped.items[0].agentflow is not None
        assert (await flowise.executions.list()).total == 3
        second = await flowise.executions.list(page=2, limit=2)
        assert (second.total, len(second.items)) == (3, 1)
        walked = [e.id async for e in flowise.executions.iter(page_size=1)]
        assert sorted(walked) == sorted(row["id"] for row in server.executions)

        execution = await flowise.executions.get(stopped.items[0].id)
        assert execution.id == waiting.execution_id
        assert execution.execution_data[-1].status == "STOPPED"
        assert await flowise.executions.for_chat("flow", "no-such-chat") is None
        with pytest.raises(NotFoundError):
            await flowise.executions.get_public(execution.id)  # not shared yet
        shared = await flowise.executions.update(execution.id, is_public=True)
        assert shared.is_public is True
        async with AsyncFlowise(server.url) as anonymous:
            public = await anonymous.executions.get_public(execution.id)
        assert public.id == execution.id
        assert await flowise.executions.delete(execution.id) == 1
        assert await flowise.executions.delete(execution.id) == 0
        with pytest.raises(NotFoundError):
            await flowise.executions.get(execution.id)
        assert await flowise.executions.delete_many([row["id"] for row in server.executions]) == 2
        assert (await flowise.executions.list()).total == 0


async def test_chat_session_on_a_fake_agent_flow() -> None:
    """A session stops, is resumed, runs again; the agent flow lists as an AGENTFLOW."""
    async with FakeFlowise() as server, server.client() as flowise:
        server.agentflow("flow")
        chat = flowise.chat("flow")
        await chat.ask("first")
        assert chat.pending_action is not None
        assert (await chat.resume("proceed", feedback="go")).text == "Echo: go"
        assert chat.pending_action is None
        async with chat.stream("second") as stream:
            await stream.final()
        assert chat.pending_action is not None
        async with chat.resume_stream("reject") as resumed:
            assert (await resumed.final()).text == "Request rejected."
        history = await chat.history()
        assert [m.content for m in history if m.role == "userMessage"] == [
            "first",
            "go",
            "second",
            "Reject",
        ]
        assert all(m.action is None for m in history)  # answered actions are cleared
        executions = await flowise.executions.list(session_id=chat.chat_id)
        assert [e.state for e in executions.items] == [ExecutionState.FINISHED] * 2
        flows = await flowise.chatflows.list(type="AGENTFLOW")
        assert [f.id for f in flows] == ["flow"]
