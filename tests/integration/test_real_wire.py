"""The exact bytes a real Flowise streams, and what the library makes of them."""

from __future__ import annotations

import uuid

import pytest

from flowise_async import AsyncFlowise, testing
from flowise_async.events import (
    EndEvent,
    Event,
    MetadataEvent,
    SourceDocumentsEvent,
    StartEvent,
    TokenEvent,
    UsedToolsEvent,
)
from harness import wire
from harness.fake_llm import echo_reply, tokens_of
from harness.server import RealFlowise


pytestmark = pytest.mark.integration

WIRE_NAMES: dict[type, str] = {
    StartEvent: "start",
    TokenEvent: "token",
    SourceDocumentsEvent: "sourceDocuments",
    UsedToolsEvent: "usedTools",
    MetadataEvent: "metadata",
    EndEvent: "end",
}


def _wire_names(events: list[Event]) -> list[str]:
    return [WIRE_NAMES.get(type(event), type(event).__name__) for event in events]


async def test_real_stream_is_made_of_flowise_frames_in_the_real_order(
    real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """Every byte belongs to a `message:\\ndata:<compact JSON>\\n\\n` frame; order as observed."""
    question = "hello wire world"
    chat_id = f"wire-{uuid.uuid4()}"
    captured = await wire.capture_stream(
        real_flowise.base_url, chatflows["conversation"], question, chat_id=chat_id
    )

    assert captured.status == 200
    assert captured.content_type.startswith("text/event-stream")
    frames = [frame for frame in wire.split_frames(captured.body) if frame != wire.HEARTBEAT]
    payloads = [wire.frame_payload(frame) for frame in frames]
    assert all(payload is not None for payload in payloads)
    # Byte for byte what JSON.stringify writes: compact, no event:/id: lines, no space.
    assert frames == [wire.encode_frame(payload) for payload in payloads if payload is not None]
    expected_tokens = tokens_of(echo_reply(question))
    assert [p["event"] for p in payloads if p is not None] == [
        "start",
        *["token"] * len(expected_tokens),
        "metadata",
        "end",
    ]
    assert [p["data"] for p in payloads if p is not None and p["event"] == "token"] == (
        expected_tokens
    )
    assert payloads[0] == {"event": "start", "data": ""}
    assert payloads[-1] == {"event": "end", "data": "[DONE]"}
    metadata = payloads[-2]
    assert metadata is not None
    assert metadata["data"]["chatId"] == chat_id
    assert metadata["data"]["memoryType"] == "Buffer Memory"


@pytest.mark.parametrize(
    ("flow", "question"),
    [
        ("conversation", "hello again [[words=2]]"),
        ("retrieval", "What is the capital of Spain?"),
        ("toolagent", "what is 6*7 [[calc=6*7]]"),
    ],
)
async def test_library_yields_one_event_per_real_frame_in_the_same_order(
    real_flowise: RealFlowise,
    chatflows: dict[str, str],
    client: AsyncFlowise,
    flow: str,
    question: str,
) -> None:
    """The library's events for a prediction map one to one onto the server's frames."""
    captured = await wire.capture_stream(real_flowise.base_url, chatflows[flow], question)
    async with client.predictions.stream(chatflows[flow], question) as stream:
        events = [event async for event in stream]

    assert _wire_names(events) == wire.event_names(captured.body)
    real_tokens = [
        payload["data"]
        for payload in map(wire.frame_payload, wire.split_frames(captured.body))
        if payload is not None and payload["event"] == "token"
    ]
    assert [event.text for event in events if isinstance(event, TokenEvent)] == real_tokens


async def test_normalized_frames_of_two_runs_are_identical(
    real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """Two runs of one prediction differ only in per-run ids: the basis for byte comparisons."""
    first, second = [
        await wire.capture_stream(
            real_flowise.base_url, chatflows["conversation"], "same question twice"
        )
        for _ in range(2)
    ]
    assert first.body != second.body  # chat ids differ ...
    assert wire.normalized_frames(first.body) == wire.normalized_frames(second.body)  # ... only


@pytest.mark.parametrize(
    ("flow", "question"),
    [
        ("conversation", "round trip [[words=3]]"),
        ("llmchain", "round trip"),
        ("retrieval", "What is the capital of Germany?"),
        ("toolagent", "what is 6*7 [[calc=6*7]]"),
        ("agentflow", "round trip agent"),
        ("conversation", "model failure [[error]]"),
        ("retrieval-broken", "flow failure"),
    ],
)
async def test_testing_module_re_encodes_decoded_real_events_byte_for_byte(
    real_flowise: RealFlowise, chatflows: dict[str, str], flow: str, question: str
) -> None:
    """Real bytes -> library events -> flowise_async.testing.sse_bytes gives the same bytes."""
    captured = await wire.capture_stream(real_flowise.base_url, chatflows[flow], question)
    frames = [frame for frame in wire.split_frames(captured.body) if frame != wire.HEARTBEAT]

    async with (
        wire.ReplayServer(captured.body) as replay,
        AsyncFlowise(replay.url) as client,
        client.predictions.stream("replayed", question, raise_on_error=False) as stream,
    ):
        events = [event async for event in stream]

    assert len(events) == len(frames)
    assert [testing.sse_frame(event) for event in events] == frames
    assert testing.sse_bytes(*events) == b"".join(frames)


async def test_fake_flowise_streams_the_same_frames_as_the_real_server(
    real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """flowise_async.testing.FakeFlowise writes what Flowise writes, up to per-run ids."""
    question = "compare me [[words=2]]"
    chat_id = f"cmp-{uuid.uuid4()}"
    real = await wire.capture_stream(
        real_flowise.base_url, chatflows["conversation"], question, chat_id=chat_id
    )
    tokens = [
        payload["data"]
        for payload in map(wire.frame_payload, wire.split_frames(real.body))
        if payload is not None and payload["event"] == "token"
    ]
    async with testing.FakeFlowise() as fake:
        fake.answer(testing.ANY_CHATFLOW, *tokens, memory_type="Buffer Memory")
        fake_capture = await wire.capture_stream(fake.url, "any-flow", question, chat_id=chat_id)

    assert fake_capture.status == real.status == 200
    assert fake_capture.content_type == real.content_type
    assert wire.normalized_frames(fake_capture.body) == wire.normalized_frames(real.body)
