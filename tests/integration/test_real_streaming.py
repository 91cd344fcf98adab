"""Streamed predictions against a real Flowise: event types, order and text."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from flowise_async import AsyncFlowise
from flowise_async.events import (
    AgentFlowEventEvent,
    AgentFlowExecutedDataEvent,
    CalledToolsEvent,
    EndEvent,
    Event,
    MetadataEvent,
    NextAgentFlowEvent,
    SourceDocumentsEvent,
    StartEvent,
    TokenEvent,
    UsageMetadataEvent,
    UsedToolsEvent,
)
from harness.fake_llm import echo_reply, tokens_of
from harness.server import RealFlowise
from tests._clients import make_client as either_client
from tests.integration.conftest import ALL_LINES, QUEUE, SQLITE, TIMEOUTS


pytestmark = pytest.mark.integration

# 3.1.4 on SQLite too: Flowise's default database, and what the demo runs.
LINES = (*ALL_LINES, SQLITE)


@pytest.fixture
async def client(real_flowise: RealFlowise, client_kind: str) -> AsyncIterator[AsyncFlowise]:
    """A client of the real server: every test runs with AsyncFlowise and SyncFlowise."""
    async with either_client(
        real_flowise.base_url, api_key=real_flowise.api_key, timeouts=TIMEOUTS
    ) as flowise:
        yield flowise


async def _collect(
    client: AsyncFlowise, flow_id: str, question: str, **options: object
) -> tuple[list[Event], str]:
    async with client.predictions.stream(flow_id, question, **options) as stream:  # type: ignore[arg-type]
        chat_id = stream.chat_id
        events = [event async for event in stream]
    return events, chat_id


def _tokens(events: list[Event]) -> list[str]:
    return [event.text for event in events if isinstance(event, TokenEvent)]


# The LLM chain's prompt template is "Question: {question}"; the model echoes the whole prompt.
@pytest.mark.parametrize(
    ("flow", "prompt_prefix"), [("conversation", ""), ("llmchain", "Question: ")]
)
async def test_stream_yields_start_tokens_metadata_end_in_order(
    client: AsyncFlowise, chatflows: dict[str, str], flow: str, prompt_prefix: str
) -> None:
    """A chain flow streams start, one token per model token, metadata, then end."""
    question = "hello   streaming world [[words=3]]"
    expected = echo_reply(prompt_prefix + question)

    events, chat_id = await _collect(client, chatflows[flow], question)

    kinds = [type(event) for event in events]
    assert kinds == [StartEvent, *[TokenEvent] * len(tokens_of(expected)), MetadataEvent, EndEvent]
    assert _tokens(events) == tokens_of(expected)
    assert "".join(_tokens(events)) == expected
    metadata = events[-2]
    assert isinstance(metadata, MetadataEvent)
    assert metadata.chat_id == chat_id
    assert metadata.question == question
    assert metadata.chat_message_id

    prediction = await client.predictions.create(chatflows[flow], question)
    assert prediction.text == "".join(_tokens(events))
    assert prediction.chat_id != chat_id  # a fresh conversation each time


async def test_stream_uses_the_callers_chat_id_and_memory(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """A given chat_id is known before the first event and echoed by the server's metadata."""
    chat_id = f"it-{uuid.uuid4()}"
    async with client.predictions.stream(
        chatflows["conversation"], "first turn", chat_id=chat_id
    ) as stream:
        assert stream.chat_id == chat_id
        first = [event async for event in stream]
    metadata = [event for event in first if isinstance(event, MetadataEvent)]
    assert [m.chat_id for m in metadata] == [chat_id]
    assert metadata[0].memory_type == "Buffer Memory"

    second = await client.predictions.create(
        chatflows["conversation"], "second turn", chat_id=chat_id
    )
    assert second.chat_id == chat_id
    assert second.text == "Echo: second turn"


async def test_text_stream_and_final_agree_with_create(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """text_stream() yields the answer's pieces and final() returns what create() returns."""
    question = "text stream check [[words=4]]"
    async with client.predictions.stream(chatflows["conversation"], question) as stream:
        pieces = [piece async for piece in stream.text_stream()]
        final = await stream.final()
    created = await client.predictions.create(chatflows["conversation"], question)

    assert "".join(pieces) == echo_reply(question)
    assert final.text == created.text == echo_reply(question)
    assert final.chat_id == stream.chat_id
    assert final.chat_message_id


async def test_retrieval_flow_streams_typed_source_documents(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """The retrieval chain's sourceDocuments event arrives as a SourceDocumentsEvent."""
    question = "What is the capital of France?"
    events, _ = await _collect(client, chatflows["retrieval"], question)

    docs_events = [event for event in events if isinstance(event, SourceDocumentsEvent)]
    assert len(docs_events) == 1
    documents = docs_events[0].documents
    assert len(documents) == 2  # topK
    assert all("capital" in document.page_content for document in documents)
    assert all(document.metadata.get("source") == "capitals.txt" for document in documents)
    kinds = [type(event) for event in events]
    assert kinds.index(SourceDocumentsEvent) < kinds.index(MetadataEvent) < kinds.index(EndEvent)
    assert kinds[-1] is EndEvent

    prediction = await client.predictions.create(chatflows["retrieval"], question)
    assert [d.page_content for d in prediction.source_documents or []] == [
        d.page_content for d in documents
    ]
    assert "".join(_tokens(events)) == prediction.text


async def test_tool_agent_streams_typed_used_tools(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """The tool agent's usedTools event arrives as a UsedToolsEvent with input and output."""
    question = "what is 6*7 [[calc=6*7]]"
    events, _ = await _collect(client, chatflows["toolagent"], question)

    used = [event for event in events if isinstance(event, UsedToolsEvent)]
    assert len(used) == 1
    (tool,) = used[0].tools
    assert tool.tool == "calculator"
    assert tool.tool_input == {"input": "6*7"}
    assert tool.tool_output == "42"
    assert "".join(_tokens(events)) == "Tool says: 42"
    assert isinstance(events[-1], EndEvent)

    prediction = await client.predictions.create(chatflows["toolagent"], question)
    assert prediction.text == "Tool says: 42"
    assert [(t.tool, t.tool_output) for t in prediction.used_tools or []] == [("calculator", "42")]


@pytest.mark.lines("3.0.13", "3.1.4", QUEUE, SQLITE)  # agent flows v2 came in 3.0.0
async def test_agentflow_streams_typed_agent_flow_events(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """An AGENTFLOW run yields its agent flow, node, executed-data and usage events typed."""
    question = "hello agent"
    events, chat_id = await _collect(client, chatflows["agentflow"], question)

    states = [event.state for event in events if isinstance(event, AgentFlowEventEvent)]
    assert states == ["INPROGRESS", "FINISHED"]
    nodes = [(e.node_id, e.status) for e in events if isinstance(e, NextAgentFlowEvent)]
    assert ("llmAgentflow_0", "INPROGRESS") in nodes
    assert ("llmAgentflow_0", "FINISHED") in nodes
    executed = [e for e in events if isinstance(e, AgentFlowExecutedDataEvent)]
    assert executed
    assert executed[-1].nodes
    assert any(isinstance(event, CalledToolsEvent) for event in events)
    usage = [event for event in events if isinstance(event, UsageMetadataEvent)]
    assert usage
    assert usage[0].output_tokens == len(tokens_of(echo_reply(question)))
    assert "".join(_tokens(events)) == echo_reply(question)
    assert isinstance(events[-2], MetadataEvent)
    assert events[-2].chat_id == chat_id
    assert isinstance(events[-1], EndEvent)


async def test_stream_on_a_flow_that_cannot_stream_still_yields_typed_events(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """With streaming off in the model, the server answers JSON; stream() still gives events."""
    question = "no streaming here [[words=2]]"
    events, chat_id = await _collect(client, chatflows["conversation-nonstreaming"], question)

    assert "".join(_tokens(events)) == echo_reply(question)
    metadata = [event for event in events if isinstance(event, MetadataEvent)]
    assert len(metadata) == 1
    assert metadata[0].chat_id == chat_id
    assert metadata[0].chat_message_id
    assert isinstance(events[-1], EndEvent)
