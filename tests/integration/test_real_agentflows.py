"""
Agent flows on the real Flowise: human-in-the-loop, executions, chat sessions, streamed
multipart predictions.

The agent flow ``agentflow-hitl`` (harness/flows) is Start -> Human Input -> LLM (proceed) or
Direct Reply "Request rejected." (reject); the Human Input node has feedback on.
``agentflow-tool-approval`` is Start -> Agent with a calculator tool that needs approval.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flowise_async import AsyncFlowise, ChatBusyError, NotWaitingError
from flowise_async.events import (
    ActionEvent,
    AgentFlowEventEvent,
    AgentFlowExecutedDataEvent,
    MetadataEvent,
    NextAgentFlowEvent,
    StartEvent,
    TokenEvent,
)
from flowise_async.models import ExecutionState
from harness.server import RealFlowise
from tests.integration.test_api_uploads import API_CONFIG, _text_file_flow


pytestmark = pytest.mark.integration

HITL = "agentflow-hitl"
REJECTED = "Request rejected."


@pytest.fixture
async def hitl_flow(client: AsyncFlowise, real_flowise: RealFlowise) -> AsyncIterator[str]:
    """The human-in-the-loop agent flow, created for the test and deleted after it."""
    flow = await client.chatflows.create(
        name=f"it-hitl-{uuid.uuid4().hex[:8]}",
        type="AGENTFLOW",
        flow_data=real_flowise.flow_data(HITL),
    )
    yield flow.id
    await client.chatflows.delete(flow.id)


# -- human in the loop ----------------------------------------------------------------------


async def test_streamed_run_waits_then_proceeds(client: AsyncFlowise, hitl_flow: str) -> None:
    """run -> STOPPED with a typed action -> proceed -> the LLM answers and the run finishes."""
    async with client.predictions.stream(hitl_flow, "hello world") as stream:
        events = [event async for event in stream]
    action = stream.pending_action
    assert action is not None
    assert action.node_id == "humanInputAgentflow_0"
    assert action.node_label == "Human Input"
    assert (action.approve_label, action.reject_label) == ("Proceed", "Reject")
    assert action.feedback_enabled is True
    assert "Shall I answer?" in stream.text
    # How 3.1.4 announces the stop: no `start`, then in this order nextAgentFlow STOPPED,
    # agentFlowExecutedData, agentFlowEvent STOPPED and the action; metadata has no execution id.
    assert not any(isinstance(e, StartEvent) for e in events)
    stop = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, NextAgentFlowEvent) and e.status == "STOPPED"
    )
    assert isinstance(events[stop + 1], AgentFlowExecutedDataEvent)
    assert events[stop + 2] == AgentFlowEventEvent(state="STOPPED")
    assert events[stop + 3] == ActionEvent(action=action)
    metadata = next(e for e in events if isinstance(e, MetadataEvent))
    assert metadata.action == action
    assert "executionId" not in metadata.extra
    assert (await stream.final()).pending_action == action

    execution = await client.executions.for_chat(hitl_flow, stream.chat_id)
    assert execution is not None
    assert execution.state is ExecutionState.STOPPED
    assert execution.pending_action is not None
    assert execution.pending_action.node_id == action.node_id

    async with client.predictions.resume_stream(
        hitl_flow, stream.chat_id, "proceed", action=action
    ) as resumed:
        tokens = [e.text async for e in resumed if isinstance(e, TokenEvent)]
    assert "".join(tokens).startswith("Echo:")
    assert resumed.pending_action is None

    finished = await client.executions.for_chat(hitl_flow, stream.chat_id)
    assert finished is not None
    assert finished.id == execution.id  # one execution for both parts of the run
    assert finished.state is ExecutionState.FINISHED
    assert finished.pending_action is None


async def test_feedback_reaches_the_flow(client: AsyncFlowise, hitl_flow: str) -> None:
    """Feedback on a node with feedback on is what the next node (the echo model) sees."""
    first = await client.predictions.create(hitl_flow, "draft a reply")
    assert first.pending_action is not None
    assert first.execution_id
    answer = await client.predictions.resume(
        hitl_flow, first.chat_id or "", "proceed", feedback="make it short"
    )
    assert answer.text == "Echo: make it short"
    assert answer.pending_action is None
    messages = await client.chat_messages.list(hitl_flow, chat_id=first.chat_id)
    assert [m.content for m in messages if m.role == "userMessage"] == [
        "draft a reply",
        "make it short",
    ]
    assert all(m.action is None for m in messages)  # the server clears the answered action


async def test_reject_takes_the_reject_branch(client: AsyncFlowise, hitl_flow: str) -> None:
    """reject runs the reject branch; no start node is sent (the server finds it)."""
    first = await client.predictions.create(hitl_flow, "delete everything")
    assert first.pending_action is not None
    answer = await client.predictions.resume(hitl_flow, first.chat_id or "", "reject")
    assert answer.text == REJECTED
    async with client.predictions.stream(hitl_flow, "again") as stream:
        await stream.final()
    async with client.predictions.resume_stream(hitl_flow, stream.chat_id, "reject") as resumed:
        assert (await resumed.final()).text == REJECTED


async def test_resume_when_not_waiting_is_a_typed_error(
    client: AsyncFlowise, hitl_flow: str
) -> None:
    """A finished run, or a chat with no run, cannot be resumed: NotWaitingError."""
    first = await client.predictions.create(hitl_flow, "book a room")
    chat_id = first.chat_id or ""
    await client.predictions.resume(hitl_flow, chat_id, "proceed")
    with pytest.raises(NotWaitingError) as info:
        await client.predictions.resume(hitl_flow, chat_id, "proceed")
    assert info.value.state == "FINISHED"
    async with client.predictions.resume_stream(hitl_flow, chat_id, "reject") as stream:
        with pytest.raises(NotWaitingError) as streamed:
            await stream.final()
    assert streamed.value.state == "FINISHED"
    with pytest.raises(NotWaitingError) as unknown:
        await client.predictions.resume(hitl_flow, f"no-such-chat-{uuid.uuid4()}")
    assert unknown.value.state is None


async def test_agent_tool_that_needs_approval(
    client: AsyncFlowise, real_flowise: RealFlowise
) -> None:
    """An Agent node whose tool needs approval waits; proceed runs the tool, reject does not."""
    flow = await client.chatflows.create(
        name=f"it-tool-approval-{uuid.uuid4().hex[:8]}",
        type="AGENTFLOW",
        flow_data=real_flowise.flow_data("agentflow-tool-approval"),
    )
    try:
        approved = client.chat(flow.id)
        async with approved.stream("compute [[calc=6*7]]") as stream:
            await stream.final()
        action = approved.pending_action
        assert action is not None
        assert (action.node_id, action.node_label) == ("agentAgentflow_0", "Agent")
        assert action.feedback_enabled is False
        async with approved.resume_stream("proceed") as resumed:
            done = await resumed.final()
        assert done.text == "Tool says: 42"
        assert [(t.tool, t.tool_output) for t in done.used_tools] == [("calculator", "42")]

        rejected = client.chat(flow.id)
        first = await rejected.ask("compute [[calc=6*7]]")
        assert first.pending_action is not None
        answer = await rejected.resume("reject")
        assert answer.pending_action is None
        assert not any(t.tool_output for t in answer.used_tools)  # the tool never ran
        assert "42" not in answer.text
    finally:
        await client.chatflows.delete(flow.id)


# -- executions -----------------------------------------------------------------------------


async def test_executions_round_trip(client: AsyncFlowise, hitl_flow: str) -> None:
    """List, filter, iterate, read, share and delete executions, one of them left STOPPED."""
    waiting = await client.predictions.create(hitl_flow, "one")
    done = await client.predictions.create(hitl_flow, "two")
    await client.predictions.resume(hitl_flow, done.chat_id or "", "reject")

    page = await client.executions.list(agentflow_id=hitl_flow)
    assert page.total == 2
    assert {e.session_id for e in page.items} == {waiting.chat_id, done.chat_id}
    stopped = await client.executions.list(agentflow_id=hitl_flow, state="STOPPED")
    assert [e.session_id for e in stopped.items] == [waiting.chat_id]
    by_session = await client.executions.list(session_id=done.chat_id)
    assert [e.state for e in by_session.items] == [ExecutionState.FINISHED]
    walked = [e.id async for e in client.executions.iter(agentflow_id=hitl_flow, page_size=1)]
    assert sorted(walked) == sorted(e.id for e in page.items)

    execution = await client.executions.get(stopped.items[0].id)
    assert execution.id == waiting.execution_id
    assert execution.state is ExecutionState.STOPPED
    assert [n.node_id for n in execution.execution_data] == [
        "startAgentflow_0",
        "humanInputAgentflow_0",
    ]
    assert execution.execution_data[-1].status == "STOPPED"
    assert execution.pending_action is not None

    shared = await client.executions.update(execution.id, is_public=True)
    assert shared.is_public is True
    public = await client.executions.get_public(execution.id)
    assert public.id == execution.id

    assert await client.executions.delete(execution.id) == 1
    assert await client.executions.delete(execution.id) == 0
    assert await client.executions.for_chat(hitl_flow, waiting.chat_id or "") is None
    assert await client.executions.delete_many([e.id for e in page.items]) == 1
    assert (await client.executions.list(agentflow_id=hitl_flow)).total == 0


# -- chat sessions --------------------------------------------------------------------------


async def test_chat_session_over_several_turns_with_memory(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """A session keeps the chat id: the chatflow's memory and the history see every turn."""
    chat = client.chat(chatflows["conversation"])
    first = await chat.ask("one")
    async with chat.stream("two") as stream:
        second = await stream.final()
    third = await chat.ask("three")
    assert first.chat_id == second.chat_id == third.chat_id == chat.chat_id
    assert third.text == "Echo: three"
    history = await chat.history()
    assert [(m.role, m.content) for m in history] == [
        ("userMessage", "one"),
        ("apiMessage", "Echo: one"),
        ("userMessage", "two"),
        ("apiMessage", "Echo: two"),
        ("userMessage", "three"),
        ("apiMessage", "Echo: three"),
    ]


async def test_chat_session_refuses_concurrent_asks(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """While a streamed answer is open, a second ask on the session is refused."""
    chat = client.chat(chatflows["conversation"])
    async with chat.stream("slow [[delay=50]] answer") as stream:
        with pytest.raises(ChatBusyError):
            await chat.ask("in between")
        await stream.final()
    assert (await chat.ask("after")).text == "Echo: after"


async def test_chat_session_with_an_agent_flow(client: AsyncFlowise, hitl_flow: str) -> None:
    """An agent flow session: stops, is resumed, and runs again on the same chat."""
    chat = client.chat(hitl_flow)
    async with chat.stream("first task") as stream:
        await stream.final()
    assert chat.pending_action is not None
    done = await chat.resume("proceed", feedback="go")
    assert done.text == "Echo: go"
    assert chat.pending_action is None
    # Flowise resumes the chat's latest execution by creation time, which SQLite stores to
    # the second: a new run started in the same second as the last one could be mistaken
    # for it. A person never answers that fast; the test waits as one would.
    await asyncio.sleep(1.1)
    await chat.ask("second task")
    assert chat.pending_action is not None
    async with chat.resume_stream("reject") as resumed:
        assert (await resumed.final()).text == REJECTED
    history = await chat.history()
    assert [m.content for m in history if m.role == "userMessage"] == [
        "first task",
        "go",
        "second task",
        "Reject",
    ]
    assert chat.pending_action is None
    executions = await client.executions.list(session_id=chat.chat_id)
    assert [e.state for e in executions.items] == [ExecutionState.FINISHED] * 2


# -- files in a streamed prediction ---------------------------------------------------------


@pytest.fixture
async def file_flow(client: AsyncFlowise, real_flowise: RealFlowise) -> AsyncIterator[str]:
    flow = await client.chatflows.create(
        name=f"it-stream-files-{uuid.uuid4().hex[:8]}",
        flow_data=_text_file_flow(real_flowise),
        api_config=API_CONFIG,
    )
    yield flow.id
    await client.chatflows.delete(flow.id)


async def test_multipart_prediction_streams(
    client: AsyncFlowise, file_flow: str, tmp_path: Path
) -> None:
    """Flowise streams a multipart prediction: tokens, then the file's chunks as sources."""
    path = tmp_path / "rivers.txt"
    path.write_text("The Seine flows through Paris.\n\nThe Spree flows through Berlin.")
    async with client.predictions.stream_with_files(
        file_flow, "Which river flows through Berlin?", files=[path]
    ) as stream:
        tokens = [e.text async for e in stream if isinstance(e, TokenEvent)]
        answer = await stream.final()
    assert len(tokens) > 1  # streamed token by token, not one JSON answer
    assert answer.is_stream_valid is True
    assert answer.chat_id == stream.chat_id
    assert {doc.page_content for doc in answer.source_documents} == {
        "The Seine flows through Paris.",
        "The Spree flows through Berlin.",
    }
