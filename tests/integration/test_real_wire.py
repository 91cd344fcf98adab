"""The exact bytes a real Flowise streams, and what the library makes of them."""

from __future__ import annotations

import uuid

import pytest

from flowise_async import AsyncFlowise
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
