"""Agent flows: typed actions, resuming a waiting run, executions (no real server)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses

from flowise_async import (
    AsyncFlowise,
    HumanInput,
    NotWaitingError,
    Retries,
    ServerEventError,
    UnexpectedContentError,
)
from flowise_async._convert import structure, unstructure
from flowise_async.models import Action, Execution, ExecutionState, Page, Prediction
from tests.unit._resources_helpers import BASE, client, query, route, sent
from tests.unit._server import Recorder, frame, serve, write_sse


__all__ = ["client"]

FLOW = "af-1"
CHAT = "chat-1"

# The action of a run stopped at a Human Input node, as Flowise 3.1.4 sends it.
ACTION = {
    "id": "act-1",
    "mapping": {"approve": "Proceed", "reject": "Reject"},
    "elements": [
        {"type": "agentflowv2-approve-button", "label": "Proceed"},
        {"type": "agentflowv2-reject-button", "label": "Reject"},
    ],
    "data": {
        "nodeId": "humanInputAgentflow_0",
        "nodeLabel": "Human Input",
        "input": {"messages": [], "humanInputEnableFeedback": True},
    },
}

STOPPED_NODE = {
    "nodeId": "humanInputAgentflow_0",
    "nodeLabel": "Human Input",
    "data": {"output": {"content": "Shall I?", "humanInputAction": ACTION}},
    "previousNodeIds": ["startAgentflow_0"],
    "status": "STOPPED",
}


def stopped_run_frames() -> list[bytes]:
    """The events of a streamed run that stops for a person (the order 3.1.4 uses)."""
    return [
        frame("agentFlowEvent", "INPROGRESS"),
        frame("nextAgentFlow", {"nodeId": "startAgentflow_0", "status": "FINISHED"}),
        frame("token", "hello\n\nShall I?"),
        frame(
            "nextAgentFlow",
            {"nodeId": "humanInputAgentflow_0", "nodeLabel": "Human Input", "status": "STOPPED"},
        ),
        frame("agentFlowExecutedData", [STOPPED_NODE]),
        frame("agentFlowEvent", "STOPPED"),
        frame("action", ACTION),
        frame("metadata", {"chatId": CHAT, "chatMessageId": "m1", "action": ACTION}),
        frame("end", "[DONE]"),
    ]


# -- Action and pending_action ------------------------------------------------------------


def test_action_reads_the_stopped_node() -> None:
    """The typed accessors read the labels, the node and the feedback switch."""
    action = structure(ACTION, Action)
    assert action.id == "act-1"
    assert (action.approve_label, action.reject_label) == ("Proceed", "Reject")
    assert (action.node_id, action.node_label) == ("humanInputAgentflow_0", "Human Input")
    assert action.feedback_enabled is True
    assert unstructure(action) == ACTION  # re-encodes to what the server sent


def test_action_accessors_without_data() -> None:
    """An action without node data (an older multi-agent flow) has defaults, not errors."""
    action = structure({"id": "a", "mapping": {"approve": "Yes"}}, Action)
    assert action.approve_label == "Yes"
    assert action.reject_label == "Reject"
    assert action.node_id is None
    assert action.node_label is None
    assert action.feedback_enabled is False
    no_feedback = structure({**ACTION, "data": {"nodeId": "n", "input": {}}}, Action)
    assert no_feedback.feedback_enabled is False


def test_prediction_pending_action() -> None:
    """A plain answer with an action is waiting; one without is not."""
    waiting = structure({"text": "Shall I?", "chatId": CHAT, "action": ACTION}, Prediction)
    assert waiting.pending_action is not None
    assert waiting.pending_action.node_id == "humanInputAgentflow_0"
    assert structure({"text": "done"}, Prediction).pending_action is None


def test_human_input_start_node_is_optional() -> None:
    """HumanInput without a start node leaves startNodeId out of the body."""
    assert unstructure(HumanInput(type="proceed")) == {"type": "proceed"}
    assert unstructure(HumanInput(type="reject", start_node_id="n1", feedback="no")) == {
        "type": "reject",
        "startNodeId": "n1",
        "feedback": "no",
    }


# -- streams ------------------------------------------------------------------------------


class _Prediction:
    """A local prediction endpoint: records JSON bodies, answers with scripted frames."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.frames: list[bytes] = stopped_run_frames()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return await write_sse(request, self.frames)

    def bodies(self) -> list[Any]:
        return [body for _, _, body, _ in self.recorder.requests]


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[_Prediction, AsyncFlowise]]:
    fake = _Prediction()
    async with (
        serve([("POST", "/api/v1/prediction/{id}", fake.handle)], recorder=fake.recorder) as url,
        AsyncFlowise(url, retries=Retries(attempts=1)) as flowise,
    ):
        yield fake, flowise


async def test_stream_shows_the_pending_action(
    endpoint: tuple[_Prediction, AsyncFlowise],
) -> None:
    """stream.pending_action is set by the action event, and final() carries it."""
    _, flowise = endpoint
    async with flowise.predictions.stream(FLOW, "hello", chat_id=CHAT) as stream:
        assert stream.pending_action is None
        async for _ in stream:
            pass
        assert stream.pending_action is not None
        assert stream.pending_action.node_id == "humanInputAgentflow_0"
    final = await stream.final()
    assert final.pending_action == stream.pending_action


async def test_stream_of_a_finished_run_has_no_pending_action(
    endpoint: tuple[_Prediction, AsyncFlowise],
) -> None:
    """A run that ends normally waits for nobody."""
    fake, flowise = endpoint
    fake.frames = [frame("token", "done"), frame("metadata", {"chatId": CHAT}), frame("end", "")]
    async with flowise.predictions.stream(FLOW, "hello", chat_id=CHAT) as stream:
        assert (await stream.final()).text == "done"
        assert stream.pending_action is None


async def test_resume_stream_sends_the_human_input(
    endpoint: tuple[_Prediction, AsyncFlowise],
) -> None:
    """resume_stream sends humanInput with the action's node, on the same chat."""
    fake, flowise = endpoint
    fake.frames = [frame("token", "Echo: ship it"), frame("end", "[DONE]")]
    action = structure(ACTION, Action)
    async with flowise.predictions.resume_stream(
        FLOW, CHAT, "proceed", feedback="ship it", action=action
    ) as stream:
        assert (await stream.final()).text == "Echo: ship it"
    assert fake.bodies() == [
        {
            "question": "ship it",
            "streaming": True,
            "chatId": CHAT,
            "humanInput": {
                "type": "proceed",
                "startNodeId": "humanInputAgentflow_0",
                "feedback": "ship it",
            },
        }
    ]


@pytest.mark.parametrize(
    ("message", "state"),
    [
        (
            "Error: predictionsServices.buildChatflow - No previous execution found for session c",
            None,
        ),
        (
            "Error: predictionsServices.buildChatflow - Cannot resume execution e1 because it is "
            "in 'FINISHED' state. Only executions in 'STOPPED' state can be resumed.",
            "FINISHED",
        ),
    ],
)
async def test_resume_stream_of_a_chat_not_waiting(
    endpoint: tuple[_Prediction, AsyncFlowise], message: str, state: str | None
) -> None:
    """The server's in-band "cannot resume" error is a NotWaitingError."""
    fake, flowise = endpoint
    fake.frames = [frame("error", message), frame("end", "[DONE]")]
    async with flowise.predictions.resume_stream(FLOW, CHAT, "reject") as stream:
        with pytest.raises(NotWaitingError, match="not waiting for a person") as info:
            await stream.final()
    assert info.value.state == state
    assert (info.value.chatflow_id, info.value.chat_id) == (FLOW, CHAT)
    assert info.value.server_message == message
    assert fake.bodies()[0]["humanInput"] == {"type": "reject"}
    assert fake.bodies()[0]["question"] == "Reject"


async def test_resume_stream_keeps_other_errors(
    endpoint: tuple[_Prediction, AsyncFlowise],
) -> None:
    """A failure of the resumed run stays a ServerEventError."""
    fake, flowise = endpoint
    fake.frames = [frame("error", "Error in LLM node: boom"), frame("end", "[DONE]")]
    async with flowise.predictions.resume_stream(FLOW, CHAT) as stream:
        with pytest.raises(ServerEventError, match="boom") as info:
            async for _ in stream:
                pass
    assert not isinstance(info.value, NotWaitingError)


async def test_resume_stream_answered_with_an_error_status() -> None:
    """A flow answered without streaming reports "cannot resume" as a 500: NotWaitingError."""

    async def refuse(request: web.Request) -> web.Response:
        message = "Error: x - Cannot resume execution e1 because it is in 'ERROR' state."
        return web.json_response({"message": message}, status=500)

    async with (
        serve([("POST", "/api/v1/prediction/{id}", refuse)]) as url,
        AsyncFlowise(url, retries=Retries(attempts=1)) as flowise,
    ):
        with pytest.raises(NotWaitingError) as info:
            async with flowise.predictions.resume_stream(FLOW, CHAT):
                pass
    assert info.value.state == "ERROR"


# -- resume, not streamed -----------------------------------------------------------------


async def test_resume_sends_the_human_input(client: AsyncFlowise, mocked: aioresponses) -> None:
    """resume posts humanInput on the chat and returns the typed rest of the run."""
    mocked.post(
        route(f"/api/v1/prediction/{FLOW}"),
        payload={"text": "Request rejected.", "chatId": CHAT, "executionId": "e1"},
    )
    answer = await client.predictions.resume(FLOW, CHAT, "reject", start_node_id="node_7")
    assert answer.text == "Request rejected."
    assert answer.pending_action is None
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {
        "question": "Reject",
        "streaming": False,
        "chatId": CHAT,
        "humanInput": {"type": "reject", "startNodeId": "node_7"},
    }


async def test_resume_of_a_chat_not_waiting(client: AsyncFlowise, mocked: aioresponses) -> None:
    """The server's 500 "cannot resume" answer is a NotWaitingError with the state."""
    message = (
        "Error: predictionsServices.buildChatflow - Cannot resume execution e1 because it is "
        "in 'INPROGRESS' state. Only executions in 'STOPPED' state can be resumed."
    )
    mocked.post(
        route(f"/api/v1/prediction/{FLOW}"),
        status=500,
        payload={"statusCode": 500, "success": False, "message": message, "stack": {}},
    )
    with pytest.raises(NotWaitingError) as info:
        await client.predictions.resume(FLOW, CHAT)
    assert info.value.state == "INPROGRESS"
    assert info.value.__cause__ is None


async def test_resume_keeps_other_status_errors(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Other failures keep their status error."""
    mocked.post(
        route(f"/api/v1/prediction/{FLOW}"),
        status=500,
        payload={"statusCode": 500, "message": "Error in LLM node: boom"},
    )
    with pytest.raises(Exception, match="boom") as info:
        await client.predictions.resume(FLOW, CHAT)
    assert not isinstance(info.value, NotWaitingError)


async def test_resume_checks_its_arguments(client: AsyncFlowise) -> None:
    """Bad decisions, chats and feedback the node would drop fail before any request."""
    with pytest.raises(ValueError, match='"proceed" or "reject"'):
        await client.predictions.resume(FLOW, CHAT, "approve")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chat_id"):
        await client.predictions.resume(FLOW, "")
    no_feedback = structure(
        {**ACTION, "data": {**ACTION["data"], "input": {"humanInputEnableFeedback": False}}},
        Action,
    )
    with pytest.raises(ValueError, match="feedback turned off"):
        await client.predictions.resume(FLOW, CHAT, feedback="why", action=no_feedback)
    with pytest.raises(TypeError, match="feedback"):
        await client.predictions.resume(FLOW, CHAT, feedback=3)  # type: ignore[arg-type]


# -- executions -----------------------------------------------------------------------------


def execution(id: str, state: str = "FINISHED", **fields: Any) -> dict[str, Any]:
    """An execution row as the server sends it (executionData is JSON text)."""
    row = {
        "id": id,
        "executionData": json.dumps([{**STOPPED_NODE, "status": "FINISHED"}]),
        "state": state,
        "agentflowId": FLOW,
        "sessionId": CHAT,
        "action": None,
        "isPublic": None,
        "createdDate": "2026-01-01T00:00:00.000Z",
        "updatedDate": "2026-01-01T00:00:01.000Z",
        "stoppedDate": None,
        "workspaceId": "w1",
    }
    row.update(fields)
    return row


async def test_executions_list_sends_the_filters(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """list() sends each filter by its wire name and types the page."""
    mocked.get(
        route("/api/v1/executions"),
        payload={"data": [execution("e1"), execution("e2", "BRAND_NEW")], "total": 7},
    )
    page = await client.executions.list(
        agentflow_id=FLOW,
        agentflow_name="support",
        session_id=CHAT,
        state=ExecutionState.FINISHED,
        start_date="2026-01-01",
        end_date="2026-02-01",
        page=2,
        limit=2,
    )
    assert isinstance(page, Page)
    assert page.total == 7
    assert page.items[0].state is ExecutionState.FINISHED
    assert page.items[1].state == "BRAND_NEW"  # a state this client does not know
    assert page.items[0].execution_data[0].node_id == "humanInputAgentflow_0"
    url, _ = sent(mocked, "GET")
    assert query(url) == {
        "agentflowId": FLOW,
        "agentflowName": "support",
        "sessionId": CHAT,
        "state": "FINISHED",
        "startDate": "2026-01-01",
        "endDate": "2026-02-01",
        "page": "2",
        "limit": "2",
    }


async def test_executions_list_refuses_bad_arguments(client: AsyncFlowise) -> None:
    """An unknown state would list everything on the server: refused."""
    with pytest.raises(ValueError, match="state must be one of"):
        await client.executions.list(state="DONE")
    with pytest.raises(ValueError, match="positive"):
        await client.executions.list(page=0)


async def test_executions_list_of_an_old_server(client: AsyncFlowise, mocked: aioresponses) -> None:
    """A server without the executions API answers something else: a clear error."""
    mocked.get(route("/api/v1/executions"), payload=[])
    with pytest.raises(UnexpectedContentError, match=r"older than Flowise 3\.0"):
        await client.executions.list()


async def test_executions_iter_walks_every_page(client: AsyncFlowise, mocked: aioresponses) -> None:
    """iter() asks page after page until the total is reached, and yields each run once."""
    mocked.get(
        route("/api/v1/executions"),
        payload={"data": [execution("e1"), execution("e2")], "total": 5},
    )
    mocked.get(
        route("/api/v1/executions"),
        payload={"data": [execution("e2"), execution("e3")], "total": 5},
    )
    mocked.get(route("/api/v1/executions"), payload={"data": [execution("e4")], "total": 5})
    ids = [e.id async for e in client.executions.iter(state="STOPPED", page_size=2)]
    assert ids == ["e1", "e2", "e3", "e4"]
    pages = [query(url)["page"] for (_, url), calls in mocked.requests.items() for _ in calls]
    assert sorted(pages) == ["1", "2", "3"]


async def test_execution_get_update_delete(client: AsyncFlowise, mocked: aioresponses) -> None:
    """get decodes the node states; update sends isPublic; delete counts."""
    stopped = execution(
        "e1",
        "STOPPED",
        executionData=json.dumps([STOPPED_NODE]),
        action=json.dumps(ACTION),
    )
    mocked.get(route("/api/v1/executions/e1"), payload=stopped)
    got = await client.executions.get("e1")
    assert got.state is ExecutionState.STOPPED
    assert got.pending_action == structure(ACTION, Action)
    mocked.put(route("/api/v1/executions/e1"), payload=execution("e1", isPublic=True))
    assert (await client.executions.update("e1", is_public=True)).is_public is True
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"isPublic": True}
    mocked.delete(route("/api/v1/executions/e1"), payload={"success": True, "deletedCount": 1})
    assert await client.executions.delete("e1") == 1
    mocked.delete(route("/api/v1/executions"), payload={"success": True, "deletedCount": 2})
    assert await client.executions.delete_many(["e2", "e3"]) == 2
    _, kwargs = sent(mocked, "DELETE", "/api/v1/executions")
    assert kwargs["json"] == {"executionIds": ["e2", "e3"]}
    with pytest.raises(TypeError):
        await client.executions.delete_many("e2")
    with pytest.raises(ValueError, match="empty"):
        await client.executions.delete_many([])


def test_execution_pending_action_from_the_stopped_node() -> None:
    """Without an action column the pending action comes from the stopped node's output."""
    row = execution("e1", "STOPPED", executionData=json.dumps([STOPPED_NODE]))
    assert structure(row, Execution).pending_action == structure(ACTION, Action)
    assert structure(execution("e2"), Execution).pending_action is None


async def test_execution_for_chat(client: AsyncFlowise, mocked: aioresponses) -> None:
    """for_chat asks for the chat's latest run, or answers None."""
    mocked.get(route("/api/v1/executions"), payload={"data": [execution("e9")], "total": 3})
    found = await client.executions.for_chat(FLOW, CHAT)
    assert found is not None
    assert found.id == "e9"
    url, _ = sent(mocked, "GET")
    assert query(url) == {"agentflowId": FLOW, "sessionId": CHAT, "page": "1", "limit": "1"}
    mocked.get(route("/api/v1/executions"), payload={"data": [], "total": 0})
    assert await client.executions.for_chat(FLOW, "other") is None
    with pytest.raises(ValueError, match="chat_id"):
        await client.executions.for_chat(FLOW, "")  # would list every run of the flow
    with pytest.raises(ValueError, match="execution id"):
        await client.executions.delete_many(["e1", ""])


async def test_public_execution(client: AsyncFlowise, mocked: aioresponses) -> None:
    """get_public reads /public-executions/{id}."""
    mocked.get(route("/api/v1/public-executions/e1"), payload=execution("e1", isPublic=True))
    assert (await client.executions.get_public("e1")).is_public is True
    assert BASE in str(sent(mocked, "GET")[0])
